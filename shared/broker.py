"""RabbitMQ: topology, publishing with confirms, and the consumer loop every function uses."""

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractIncomingMessage,
    AbstractRobustConnection,
    ExchangeType,
)
from aiormq.abc import FieldTable

from shared.errors import PermanentError
from shared.events import FetchRequested, ImageFailed, RequestFailed
from shared.names import (
    BUCKET_EVENTS_EXCHANGE,
    DEAD_LETTER_EXCHANGE,
    QUEUES,
    WORK_EXCHANGE,
    QueueSpec,
)

log = logging.getLogger(__name__)

# A message redelivered this many times (crash loops, a fault that never clears) is
# dead-lettered by the quorum queue instead of spinning forever.
DELIVERY_LIMIT = 20

Handler = Callable[[bytes, int], Awaitable[None]]
"""A consumer callback: the message body and its delivery attempt (1 for the first)."""


async def connect(amqp_url: str) -> AbstractRobustConnection:
    """A connection that reconnects by itself and restores its channels and consumers."""
    return await aio_pika.connect_robust(amqp_url, client_properties={"connection_name": "imgpipe"})


def queue_arguments(spec: QueueSpec) -> FieldTable:
    """Arguments of a function's queue; the RabbitMQ definitions file must match them."""
    return {
        "x-queue-type": "quorum",
        "x-delivery-limit": DELIVERY_LIMIT,
        "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE,
        "x-dead-letter-routing-key": spec.name,
    }


async def declare_topology(channel: AbstractChannel) -> None:
    """Declare every exchange, queue and binding (idempotent; same arguments everywhere).

    Queues must be bound before the first object lands: the object store drops events it
    cannot route.
    """
    for name in (BUCKET_EVENTS_EXCHANGE, WORK_EXCHANGE, DEAD_LETTER_EXCHANGE):
        await channel.declare_exchange(name, ExchangeType.DIRECT, durable=True)
    for spec in QUEUES:
        queue = await channel.declare_queue(
            spec.name, durable=True, arguments=queue_arguments(spec)
        )
        for exchange, routing_key in spec.bindings:
            await queue.bind(exchange, routing_key)
        dead = await channel.declare_queue(
            spec.dead_letter_queue, durable=True, arguments={"x-queue-type": "quorum"}
        )
        await dead.bind(DEAD_LETTER_EXCHANGE, spec.name)


class Publisher:
    """Publishes our messages to the work exchange: persistent, each confirmed by the broker."""

    def __init__(self, channel: AbstractChannel) -> None:
        self._channel = channel

    async def publish(
        self, routing_key: str, message: FetchRequested | ImageFailed | RequestFailed
    ) -> None:
        exchange = await self._channel.get_exchange(WORK_EXCHANGE, ensure=False)
        await exchange.publish(
            aio_pika.Message(
                message.encode(),
                content_type="application/json",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                type=type(message).__name__,
            ),
            routing_key=routing_key,
            mandatory=True,  # unroutable = a missing queue: fail loudly, do not drop
        )


def _attempt(message: AbstractIncomingMessage) -> int:
    # Quorum queues count earlier deliveries in this header.
    count = (message.headers or {}).get("x-delivery-count", 0)
    return 1 + (count if isinstance(count, int) else 0)


async def consume(channel: AbstractChannel, queue_name: str, handler: Handler) -> None:
    """Feed the queue's messages to `handler`; the outcome decides ack, dead-letter or requeue."""

    async def on_message(message: AbstractIncomingMessage) -> None:
        try:
            await handler(message.body, _attempt(message))
        except PermanentError as exc:
            log.error("dead-lettering a message from %s: %s", queue_name, exc)
            await message.reject(requeue=False)
        except Exception:
            log.exception("requeueing a message from %s after a transient failure", queue_name)
            await message.nack(requeue=True)
        else:
            await message.ack()

    queue = await channel.get_queue(queue_name, ensure=False)
    await queue.consume(on_message)


async def run_until_stopped() -> None:
    """Block until SIGTERM or SIGINT (compose and the local stack stop functions with them)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
