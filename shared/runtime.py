"""Process wiring shared by every function: the long-lived clients."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiohttp
from aio_pika.abc import AbstractChannel, AbstractRobustConnection

from shared.broker import Publisher, connect, declare_topology
from shared.db import Database
from shared.netguard import make_session
from shared.settings import Settings
from shared.storage import MinioStore, ObjectStore


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


@asynccontextmanager
async def open_clients(settings: Settings) -> AsyncIterator[Clients]:
    """Connect to the broker, the object store and the database; close them on exit.

    Declares the broker topology and buckets too, so any function can start first.
    """
    store = MinioStore(settings)
    await store.ensure_buckets()
    db = Database(settings.mongo_url, settings.mongo_db)
    await db.ensure_indexes()
    connection = await connect(settings.amqp_url)
    try:
        channel = await connection.channel()
        # Prefetch bounds the messages one replica works on at once (its memory and its
        # share of the queue); more replicas, not a bigger prefetch, add throughput.
        await channel.set_qos(prefetch_count=settings.prefetch)
        await declare_topology(channel, settings.retry_delays_s)
        async with make_session(settings.fetch_allow, settings.fetch_timeout_s) as http:
            yield Clients(settings, store, db, connection, channel, Publisher(channel), http)
    finally:
        await connection.close()
        await db.close()
