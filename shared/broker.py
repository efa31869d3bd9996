"""RabbitMQ: topology, publishing with confirms, and the consumer loop every function uses."""

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractConnection,
    AbstractIncomingMessage,
    AbstractRobustConnection,
    ExchangeType,
)
from aio_pika.exceptions import CONNECTION_EXCEPTIONS
from aiormq.abc import FieldTable
from yarl import URL

from shared.events import (
    FetchBatch,
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
from shared.settings import amqp_urls

log = logging.getLogger(__name__)
T = TypeVar("T")

# A message redelivered this many times without an ack (a handler that crashes its process
# every time) is dead-lettered by the quorum queue instead of looping forever.
DELIVERY_LIMIT = 20


async def connect(amqp_url: str) -> AbstractRobustConnection:
    """A connection that reconnects by itself and restores its channels and consumers.

    `amqp_url` is AMQP_URL: with several URLs (a cluster's nodes) every attempt, the first
    and each after a loss, goes to the first node that answers.
    """
    connection = FailoverConnection(
        amqp_urls(amqp_url), client_properties={"connection_name": "imgpipe"}
    )
    await connection.connect()
    return connection


async def connect_once(amqp_url: str, **kwargs: Any) -> AbstractConnection:
    """A plain connection (no reconnection: the caller rebuilds its own session) to the first
    node of AMQP_URL that answers; `kwargs` as for aio_pika.connect."""
    return await first_answering(amqp_urls(amqp_url), lambda url: aio_pika.connect(url, **kwargs))


async def first_answering(urls: Sequence[str | URL], attempt: Callable[[URL], Awaitable[T]]) -> T:
    """`attempt` on each URL in turn until one connects; the last failure if none does."""
    failure: BaseException = ConnectionError("no broker address given")
    for url in map(URL, urls):
        try:
            return await attempt(url)
        except CONNECTION_EXCEPTIONS as exc:
            failure = exc
            if len(urls) > 1:
                log.warning("broker %s did not answer (%r)", _masked(url), exc)
    raise failure


def _masked(url: URL) -> URL:
    return url.with_password("******") if url.password else url


class FailoverConnection(aio_pika.RobustConnection):
    """aio-pika's robust connection over several addresses: it reconnects to one URL only.

    Channels and consumers are restored on whichever node answered; nothing moves back when
    an earlier node returns (every node of a cluster serves every queue).
    """

    def __init__(self, urls: Sequence[str], **kwargs: Any) -> None:
        self.addresses = tuple(map(URL, urls))
        super().__init__(self.addresses[0], **kwargs)

    # Each connection attempt of RobustConnection's reconnection loop, private in aio-pika
    # 10 (the lock pins it; tests/unit/shared/test_broker.py fails if it is renamed): it
    # connects to self.url, so each address is tried by pointing self.url at it.
    async def _RobustConnection__connect_transport(self) -> None:
        connect_transport = super()._RobustConnection__connect_transport  # type: ignore[misc]

        async def attempt(url: URL) -> None:
            self.url = url
            await connect_transport()
            if len(self.addresses) > 1:
                log.info("connected to broker %s", _masked(url))

        await first_answering(self.addresses, attempt)


def queue_arguments(spec: QueueSpec) -> FieldTable:
    """Arguments of a function's queue; the RabbitMQ definitions file must match them."""
    return {
        "x-queue-type": "quorum",
        "x-delivery-limit": DELIVERY_LIMIT,
        "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE,
        "x-dead-letter-routing-key": spec.name,
    }


def delay_arguments(delay_s: float) -> FieldTable:
    """Arguments of a delay queue (`delay_s` names it): a quorum queue, so that on a cluster
    messages waiting for their retry survive the loss of a node. No TTL or dead-lettering:
    the functions hold each message until it is due (shared/delays.py)."""
    return {"x-queue-type": "quorum"}


def own_headers(message: AbstractIncomingMessage) -> dict[str, object]:
    """The message's headers without the broker's bookkeeping (a copy starts afresh)."""
    return {
        k: v
        for k, v in (message.headers or {}).items()
        if k != "x-delivery-count"
        and not k.startswith(("x-death", "x-first-death", "x-last-death"))
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
        held = await channel.declare_queue(name, durable=True, arguments=delay_arguments(delay))
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
        message: FetchBatch | ImageFailed | ImageReused | RequestFailed | WebhookDue,
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
