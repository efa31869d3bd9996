"""Process wiring shared by every function: the long-lived clients, opened patiently.

A server that is still starting (or recovering a large data directory after a restart) is
waited for, with backoff and a log line each time, instead of the process exiting on the
first refusal: an orchestrator starting everything at once, or `make up` after a big run,
brings the service up as each server becomes ready.
"""

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TypeVar

import aiohttp
from aio_pika.abc import AbstractChannel, AbstractRobustConnection

from shared.broker import Publisher, connect, declare_topology
from shared.db import Database
from shared.netguard import make_session
from shared.settings import Settings
from shared.storage import MinioStore, ObjectStore

log = logging.getLogger(__name__)
T = TypeVar("T")
FIRST_WAIT_S, LONGEST_WAIT_S = 0.5, 30.0
# One attempt may take this long (a client's own timeout, e.g. pymongo's 30 s server
# selection, would leave the log silent meanwhile).
ATTEMPT_S = 5.0


@dataclass
class Waiting:
    """The servers a process is still waiting for ("object_store", "database", "broker", as
    /readyz names them), each with the last reason."""

    reasons: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Clients:
    """The clients a function's handler may use; opened once per process."""

    settings: Settings
    store: ObjectStore
    db: Database
    connection: AbstractRobustConnection
    channel: AbstractChannel
    publisher: Publisher
    # For user-supplied URLs (images, webhooks): guarded against private addresses.
    http: aiohttp.ClientSession
    waiting: Waiting = field(default_factory=Waiting)


async def keep_trying(what: str, attempt: Callable[[], Awaitable[T]], waiting: Waiting) -> T:
    """`attempt` until it succeeds, waiting 0.5 s, then twice as long each time (30 s at most);
    an attempt without an answer within ATTEMPT_S counts as failed."""
    delay = FIRST_WAIT_S
    while True:
        try:
            result = await asyncio.wait_for(attempt(), ATTEMPT_S)
        except TimeoutError:
            reason = f"no answer within {ATTEMPT_S:.0f} s"
        except Exception as exc:  # refused, closed, still recovering: all wait
            reason = f"{type(exc).__name__}: {exc}"[:300]
        else:
            if waiting.reasons.pop(what, None) is not None:
                log.info("the %s is reachable", what.replace("_", " "))
            return result
        waiting.reasons[what] = reason
        label = what.replace("_", " ")
        log.warning("cannot reach the %s yet (%s); trying again in %.1f s", label, reason, delay)
        await asyncio.sleep(delay)
        delay = min(delay * 2, LONGEST_WAIT_S)


@asynccontextmanager
async def open_clients(
    settings: Settings, database_in_background: bool = False
) -> AsyncIterator[Clients]:
    """Connect to the broker, the object store and the database; close them on exit.

    Declares the broker topology, buckets and indexes too, so any function can start first.
    With `database_in_background` (the gateway), the database is waited for while the
    process already serves (its /readyz says what it waits for); otherwise before.
    """
    waiting = Waiting()
    store = MinioStore(settings)
    await keep_trying("object_store", store.ensure_buckets, waiting)
    db = Database(settings.mongo_url, settings.mongo_db)
    indexes = keep_trying("database", db.ensure_indexes, waiting)
    if database_in_background:
        waiting.reasons["database"] = "connecting"
        background = asyncio.create_task(indexes)
    else:
        await indexes
    connection = await keep_trying("broker", lambda: connect(settings.amqp_url), waiting)
    try:
        channel = await connection.channel()
        # Prefetch bounds the messages one replica works on at once (its memory and its
        # share of the queue); more replicas, not a bigger prefetch, add throughput.
        await channel.set_qos(prefetch_count=settings.prefetch)
        await declare_topology(channel, settings.retry_delays_s)
        async with make_session(settings.fetch_allow, settings.fetch_timeout_s) as http:
            publisher = Publisher(channel)
            yield Clients(settings, store, db, connection, channel, publisher, http, waiting)
    finally:
        if database_in_background:
            background.cancel()
        await connection.close()
        await db.close()
