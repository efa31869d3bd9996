"""RabbitMQ: topology, publishing with confirms, and the consumer loop every function uses."""

import asyncio
import contextlib
import signal
from collections.abc import Sequence

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractRobustConnection,
    ExchangeType,
)
from aiormq.abc import FieldTable

from shared.events import (
    FetchRequested,
    ImageFailed,
    ImageReused,
    ObjectCreated,
    RequestFailed,
    WebhookDue,
    encode_bucket_event,
)
from shared.names import (
    BUCKET_EVENTS_EXCHANGE,
    BUCKET_ROUTING_KEYS,
    DEAD_LETTER_EXCHANGE,
    QUEUES,
    RETRY_EXCHANGE,
    WORK_EXCHANGE,
    QueueSpec,
)
from shared.retry import DEFAULT_DELAYS_S, delay_queue

# A message redelivered this many times without an ack (a handler that crashes its process
# every time) is dead-lettered by the quorum queue instead of looping forever.
DELIVERY_LIMIT = 20


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


async def declare_topology(
    channel: AbstractChannel, retry_delays: Sequence[float] = DEFAULT_DELAYS_S
) -> None:
    """Declare every exchange, queue and binding (idempotent; same arguments everywhere).

    Queues must be bound before the first object lands: the object store drops events it
    cannot route.
    """
    for name in (BUCKET_EVENTS_EXCHANGE, WORK_EXCHANGE, DEAD_LETTER_EXCHANGE, RETRY_EXCHANGE):
        await channel.declare_exchange(name, ExchangeType.DIRECT, durable=True)
    for spec in QUEUES:
        queue = await channel.declare_queue(
            spec.name, durable=True, arguments=queue_arguments(spec)
        )
        for exchange, routing_key in (*spec.bindings, (RETRY_EXCHANGE, spec.name)):
            await queue.bind(exchange, routing_key)
        dead = await channel.declare_queue(
            spec.dead_letter_queue, durable=True, arguments={"x-queue-type": "quorum"}
        )
        await dead.bind(DEAD_LETTER_EXCHANGE, spec.name)
    for delay in retry_delays:
        name = delay_queue(delay)
        await channel.declare_exchange(name, ExchangeType.FANOUT, durable=True)
        held = await channel.declare_queue(
            name,
            durable=True,
            # Expired messages go back through the retry exchange with their original
            # routing key: the name of the queue they came from.
            arguments={
                "x-message-ttl": round(delay * 1000),
                "x-dead-letter-exchange": RETRY_EXCHANGE,
            },
        )
        await held.bind(name, "")


class Publisher:
    """Publishes our messages to the work exchange: persistent, each confirmed by the broker."""

    def __init__(self, channel: AbstractChannel) -> None:
        self._channel = channel

    async def announce(self, obj: ObjectCreated) -> None:
        """Publish an object's creation event again, as the object store would have."""
        exchange = await self._channel.get_exchange(BUCKET_EVENTS_EXCHANGE, ensure=False)
        await exchange.publish(
            aio_pika.Message(
                encode_bucket_event(obj),
                content_type="application/json",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            ),
            routing_key=BUCKET_ROUTING_KEYS[obj.bucket],
            mandatory=True,
        )

    async def publish(
        self,
        routing_key: str,
        message: FetchRequested | ImageFailed | ImageReused | RequestFailed | WebhookDue,
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


class BrokerLost(Exception):
    """The broker stayed unreachable past the grace period: exit, let the supervisor restart."""


def stop_on_signals() -> asyncio.Event:
    """An event set by SIGTERM or SIGINT (compose and the local stack stop functions so)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def run_until_stopped(
    connection: AbstractRobustConnection, stop: asyncio.Event, grace_s: float = 60.0
) -> None:
    """Block until `stop` is set, watching the broker connection meanwhile.

    The robust connection rides out broker restarts; an outage longer than `grace_s` raises
    BrokerLost, so the process exits non-zero and compose (or systemd, k8s) restarts it.
    """
    loop = asyncio.get_running_loop()
    lost_since: float | None = None
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=1.0)
        if connection.connected.is_set():
            lost_since = None
        elif lost_since is None:
            lost_since = loop.time()
        elif loop.time() - lost_since > grace_s:
            raise BrokerLost(f"RabbitMQ unreachable for more than {grace_s:.0f} s")
