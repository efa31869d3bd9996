"""`python -m <function>`: consume the function's queues; what a handler raises decides the rest.

The outcome policy lives here, once, for every function (see shared/errors.py):
returned → ack; PermanentError → dead-letter with the reason; anything else → retry after a
backoff delay, and when the retries are used up, the route's give-up hook, then dead-letter.
Every republish is confirmed by the broker before the original is acked: at least once.
"""

import asyncio
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage

from shared import logs, metrics
from shared.broker import own_headers, queue_arguments, run_until_stopped, stop_on_signals
from shared.delays import DUE_HEADER, hold_and_release, now_ms
from shared.errors import NotYet, PermanentError, RetryLater, RetryPart
from shared.names import DEAD_LETTER_EXCHANGE, QUEUES
from shared.retry import delay_queue, next_delay, wait_ms
from shared.runtime import Clients, open_clients
from shared.settings import SERVERS, Settings

log = logging.getLogger(__name__)

ATTEMPT_HEADER = "x-attempt"
REASON_HEADER = "x-last-error"


@dataclass(frozen=True)
class Route:
    """How one queue's messages are handled.

    `handle` decodes the body at the edge and calls the function's handler; `give_up` runs
    once when a message has failed transiently on every attempt (e.g. to record the image as
    failed, so its request can still complete).
    """

    handle: Callable[[Clients, bytes], Awaitable[None]]
    give_up: Callable[[Clients, bytes, "GivenUp"], Awaitable[None]] | None = None


@dataclass(frozen=True)
class GivenUp:
    """Why a message was given up: its last failure's reason, after `attempts` attempts."""

    reason: str
    attempts: int

    def of(self, reason: str) -> str:
        """`reason` (one item's, in a batch; else the message's) as the image shows it."""
        return f"{reason or self.reason} (after {self.attempts} attempts)"

    def __str__(self) -> str:
        return self.of(self.reason)


def attempt_of(message: AbstractIncomingMessage) -> int:
    """1 for a first delivery; counts our retries and the broker's redeliveries after a crash."""
    headers = message.headers or {}
    retries = headers.get(ATTEMPT_HEADER, 1)
    redeliveries = headers.get("x-delivery-count", 0)  # set by quorum queues
    return (retries if isinstance(retries, int) else 1) + (
        redeliveries if isinstance(redeliveries, int) else 0
    )


async def consume(
    channel: AbstractChannel, queue_name: str, route: Route, clients: Clients
) -> None:
    """Feed the queue's messages to `route`, settling each one by the outcome."""
    delays = clients.settings.retry_delays_s

    async def forward(
        message: AbstractIncomingMessage,
        exchange: str,
        headers: dict[str, object],
        body: bytes | None = None,
    ) -> None:
        """Publish a copy of `message` (confirmed), addressed back to this queue; with `body`
        in place of its own (the part of it still to do)."""
        target = await channel.get_exchange(exchange, ensure=False)
        copy = aio_pika.Message(
            message.body if body is None else body,
            headers={**own_headers(message), **headers},  # type: ignore[dict-item]
            content_type=message.content_type,
            type=message.type,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        )
        await target.publish(copy, routing_key=queue_name)

    async def settle(message: AbstractIncomingMessage) -> str:
        """Handle the message; returns the outcome (for the metrics)."""
        attempt = attempt_of(message)
        try:
            with metrics.HANDLING.labels(queue_name).time():
                await route.handle(clients, message.body)
        except PermanentError as exc:
            metrics.FAILURES.labels(queue_name, type(exc).__name__).inc()
            log.error("%s: dead-lettering a message: %s", queue_name, exc)
            await forward(message, DEAD_LETTER_EXCHANGE, {REASON_HEADER: str(exc)[:1000]})
            return "dead_lettered"
        except Exception as exc:
            metrics.FAILURES.labels(queue_name, type(exc).__name__).inc()
            reason = (str(exc) or type(exc).__name__)[:1000]
            wanted = exc.delay if isinstance(exc, RetryLater) else None
            rest = exc.body if isinstance(exc, RetryPart) else message.body
            if isinstance(exc, NotYet):  # waits, but does not count as a failed attempt
                attempt -= 1
            delay = next_delay(max(attempt, 1), delays, wanted)
            if delay is None:
                log.error("%s: giving up after %d attempts: %s", queue_name, attempt, reason)
                given_up = GivenUp(reason, attempt)
                if route.give_up is not None:
                    await route.give_up(clients, rest, given_up)
                await forward(message, DEAD_LETTER_EXCHANGE, {REASON_HEADER: str(given_up)}, rest)
                return "given_up"
            log.warning(
                "%s: attempt %d failed (%s); next in %.1f s", queue_name, attempt, reason, delay
            )
            due = now_ms() + wait_ms(delay)  # a holder releases it then (shared/delays.py)
            headers = {ATTEMPT_HEADER: attempt + 1, REASON_HEADER: reason, DUE_HEADER: due}
            await forward(message, delay_queue(delay), headers, rest)
            return "retried"
        return "ok"

    async def on_message(message: AbstractIncomingMessage) -> None:
        logs.bind(queue=queue_name)
        try:
            with metrics.IN_FLIGHT.labels(queue_name).track_inprogress():
                outcome = await settle(message)
        except Exception:
            # Settling failed (the broker or the give-up hook is down): hand it back.
            log.exception("%s: could not settle a message; requeueing it", queue_name)
            metrics.MESSAGES.labels(queue_name, "requeued").inc()
            await message.nack(requeue=True)
        else:
            metrics.MESSAGES.labels(queue_name, outcome).inc()
            await message.ack()

    # Declared (with its arguments), not just looked up: the robust channel re-declares what
    # was declared, and restores its consumers, when it reconnects after a broker restart.
    spec = next(spec for spec in QUEUES if spec.name == queue_name)
    queue = await channel.declare_queue(spec.name, durable=True, arguments=queue_arguments(spec))
    await queue.consume(on_message)


def run(
    name: str,
    routes: Mapping[str, Route],
    requires: tuple[str, ...] = (),
    background: Callable[[Clients], Coroutine[Any, Any, None]] | None = None,
) -> None:
    """Entry point of a consumer function: `routes` maps each queue it reads to its handler.

    `requires` names settings this function cannot work without, beyond the common ones;
    `background` is a task that runs beside the consumers (the notifier's reconciler).
    `--check` is a dry run (image smoke tests): imports done, settings valid, nothing connected.
    """
    settings = Settings.from_env(os.environ, require=(*SERVERS, *requires))
    logs.configure(name, settings.log_level)
    if "--check" in sys.argv[1:]:
        print(f"{name}: configuration ok; would consume {', '.join(routes)}")
        return

    async def main() -> None:
        metrics.serve(settings.metrics_host, settings.metrics_port)
        async with open_clients(settings) as clients:
            for queue, route in routes.items():
                await consume(clients.channel, queue, route, clients)
            await hold_and_release(clients.connection, settings.retry_delays_s)
            task = asyncio.create_task(background(clients)) if background else None
            await run_until_stopped(clients.connection, stop_on_signals())
            if task is not None:
                task.cancel()

    asyncio.run(main())
