"""Messages waiting for their retry: held by the functions, released when due.

A message that failed transiently goes to the delay queue of its backoff level with the
moment it is due (`x-due-ms`); every consumer function also consumes the delay queues,
holds each message unacknowledged until that moment, republishes it to the retry exchange
(which routes it by its routing key, the queue it came from), and only then acks it.

Not the broker's message TTL and dead-lettering: on a cluster, a quorum queue's at-least-once
dead-lettering can stop forwarding after its leader moves (measured on RabbitMQ 3.10 in
tests/cluster: a node killed, a delay queue's expired messages held back for minutes, a
retried image lost until the reconciler re-issued it, then held back again; the same is
reported for 4.2, rabbitmq-server#16652). A held message is a plain unacknowledged delivery:
if its holder dies, the broker gives it to another holder, which releases it at the same
moment. Releasing twice (a holder dying between the republish and the ack) is a redelivery,
which every handler already takes.
"""

import asyncio
import functools
import logging
import time
from collections.abc import Mapping, Sequence

import aio_pika
from aio_pika.abc import AbstractExchange, AbstractIncomingMessage, AbstractRobustConnection

from shared.broker import delay_arguments, own_headers
from shared.names import RETRY_EXCHANGE
from shared.retry import delay_queue

log = logging.getLogger(__name__)

DUE_HEADER = "x-due-ms"  # when a held message goes back to its queue (Unix time, ms)
# Messages one process holds per delay queue. They wait side by side, so this bounds memory,
# not throughput; more than this many retries due at once wait in the queue for a holder.
HOLD_PER_LEVEL = 256


def wait_s(headers: Mapping[str, object], level_s: float, now_ms: int) -> float:
    """How long to hold a message still; one without a due moment (published by a version
    without holders, or by hand) waits its level's full delay from now."""
    due = headers.get(DUE_HEADER)
    if not isinstance(due, int):
        return level_s
    return max(0.0, (due - now_ms) / 1000)


def now_ms() -> int:
    return int(time.time() * 1000)


async def hold_and_release(connection: AbstractRobustConnection, delays: Sequence[float]) -> None:
    """Consume every delay queue on a channel of its own (its prefetch is the number held),
    releasing each message when due. Returns once the consumers are set up; the robust
    channel restores them after a reconnection."""
    channel = await connection.channel()
    await channel.set_qos(prefetch_count=HOLD_PER_LEVEL * len(delays))
    retry = await channel.get_exchange(RETRY_EXCHANGE, ensure=False)
    for level in delays:
        name = delay_queue(level)
        queue = await channel.declare_queue(name, durable=True, arguments=delay_arguments(level))
        await queue.consume(functools.partial(_release, retry, level))


async def _release(retry: AbstractExchange, level: float, message: AbstractIncomingMessage) -> None:
    """Hold `message` until it is due, send it back to its queue (confirmed), then ack it."""
    await asyncio.sleep(wait_s(message.headers or {}, level, now_ms()))
    headers = own_headers(message)
    headers.pop(DUE_HEADER, None)
    copy = aio_pika.Message(
        message.body,
        headers=headers,  # type: ignore[arg-type]
        content_type=message.content_type,
        type=message.type,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
    )
    try:  # the channel has publisher confirms: this returns once the queue has it
        await retry.publish(copy, routing_key=message.routing_key or "", mandatory=True)
    except Exception:
        log.exception("could not release a retry to %s; handing it back", message.routing_key)
        await asyncio.sleep(1.0)  # not a tight loop while the broker refuses
        await message.nack(requeue=True)
    else:
        await message.ack()
