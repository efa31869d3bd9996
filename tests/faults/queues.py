"""RabbitMQ as the faults suite sees it: queue depths, idleness, dead letters, and a
duplicator that makes every bucket event arrive twice."""

import asyncio
import subprocess
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aio_pika
from aio_pika.abc import AbstractIncomingMessage

from deploy.local.rabbit import RabbitNode
from shared.names import BUCKET_EVENTS_EXCHANGE, BUCKET_ROUTING_KEYS, QUEUES
from shared.retry import delay_queue

WORK_QUEUES = tuple(spec.name for spec in QUEUES)
DEAD_QUEUES = tuple(spec.dead_letter_queue for spec in QUEUES)
COPY_HEADER = "x-faults-copy"  # marks the duplicator's own copies, so it never copies them


@dataclass(frozen=True)
class Depth:
    ready: int
    unacked: int
    consumers: int


@dataclass(frozen=True)
class Broker:
    """The stack's private node, its URL and the queues that must drain after a run."""

    node: RabbitNode
    amqp_url: str
    retry_delays: str  # RETRY_DELAYS_S

    @property
    def drained(self) -> tuple[str, ...]:
        """Work queues and delay queues: empty once nothing is in flight."""
        delays = (delay_queue(float(d)) for d in self.retry_delays.split(","))
        return (*WORK_QUEUES, *delays)

    async def declared(self, names: tuple[str, ...]) -> dict[str, Depth]:
        """Ready messages and consumers of each queue, by passive declare (no unacked count)."""
        depths = {}
        connection = await aio_pika.connect(self.amqp_url)
        async with connection:
            channel = await connection.channel()
            for name in names:
                result = (await channel.declare_queue(name, passive=True)).declaration_result
                depths[name] = Depth(result.message_count or 0, 0, result.consumer_count or 0)
        return depths

    def listed(self) -> dict[str, Depth]:
        """Ready, unacknowledged and consumers of every queue of the node (rabbitmqctl)."""
        columns = ["name", "messages_ready", "messages_unacknowledged", "consumers"]
        out = subprocess.run(
            ["rabbitmqctl", "-q", "-n", self.node.name, "list_queues", "-p", "/", *columns],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
        depths = {}
        for line in out.splitlines():
            parts = line.split("\t")
            if len(parts) == 4 and parts[1].isdigit():
                depths[parts[0]] = Depth(int(parts[1]), int(parts[2]), int(parts[3]))
        return depths

    async def standing_still(self) -> bool:
        """Nothing can move: no message ready or unacked in a work or delay queue, or messages
        wait in a work queue that has no consumer left."""
        try:
            listed = await asyncio.to_thread(self.listed)
        except subprocess.SubprocessError:
            return False  # the node is restarting
        depths = [listed[n] for n in self.drained if n in listed]
        orphaned = any(
            listed[n].ready and not listed[n].consumers for n in WORK_QUEUES if n in listed
        )
        return orphaned or not any(d.ready or d.unacked for d in depths)

    async def wait_idle(self, within: float = 60.0) -> list[str]:
        """Wait until the work and delay queues are drained; [] or what is wrong.

        Every work queue must still have a consumer: a function that lost its consumer
        (after a broker restart, say) leaves its queue filling up forever.
        """
        started = time.monotonic()
        while True:
            depths = await self.declared(self.drained)
            busy = {n: d for n, d in depths.items() if d.ready}
            if not busy:
                listed = await asyncio.to_thread(self.listed)
                busy = {n: listed[n] for n in self.drained if listed[n].ready or listed[n].unacked}
            lost = [n for n in WORK_QUEUES if depths[n].consumers < 1]
            if not busy:
                return [f"queue {n} has no consumer" for n in lost]
            waited = time.monotonic() - started
            # Messages waiting where nobody consumes will wait forever: say so at once.
            if waited > within or (lost and waited > 5):
                lost_text = f"; no consumer on {lost}" if lost else ""
                return [f"queues not drained after {waited:.0f} s: {busy}{lost_text}"]
            await asyncio.sleep(0.2)

    async def dead_letters(self, mentioning: str) -> list["DeadLetter"]:
        """Every dead-lettered message whose body mentions `mentioning`, left in its queue.

        Messages are taken without ack and handed back when the channel closes, so the queues
        keep them and later checks see them too.
        """
        found = []
        connection = await aio_pika.connect(self.amqp_url)
        async with connection:
            channel = await connection.channel()
            for name in DEAD_QUEUES:
                queue = await channel.get_queue(name, ensure=False)
                while (message := await queue.get(fail=False, no_ack=False)) is not None:
                    if mentioning.encode() in message.body:
                        reason = str((message.headers or {}).get("x-last-error", ""))
                        found.append(DeadLetter(name, message.body, reason))
        return found


@dataclass(frozen=True)
class DeadLetter:
    queue: str
    body: bytes
    reason: str  # the x-last-error header


class Duplicator:
    """Publishes every bucket event once more, as an object store's second delivery would."""

    QUEUE = "faults.duplicate-bucket-events"

    def __init__(self, amqp_url: str) -> None:
        self.amqp_url = amqp_url
        self.copied = 0

    @asynccontextmanager
    async def running(self) -> AsyncIterator["Duplicator"]:
        connection = await aio_pika.connect(self.amqp_url)
        async with connection:
            channel = await connection.channel(publisher_confirms=True)
            exchange = await channel.get_exchange(BUCKET_EVENTS_EXCHANGE, ensure=False)
            queue = await channel.declare_queue(self.QUEUE, exclusive=True)
            for routing_key in BUCKET_ROUTING_KEYS.values():
                await queue.bind(exchange, routing_key)

            async def copy(message: AbstractIncomingMessage) -> None:
                async with message.process():
                    if (message.headers or {}).get(COPY_HEADER):
                        return
                    again = aio_pika.Message(
                        message.body,
                        headers={**(message.headers or {}), COPY_HEADER: True},
                        content_type=message.content_type,
                        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    )
                    await exchange.publish(again, routing_key=message.routing_key or "")
                    self.copied += 1

            tag = await queue.consume(copy)
            try:
                yield self
            finally:
                await queue.cancel(tag)
                await queue.delete(if_unused=False, if_empty=False)
