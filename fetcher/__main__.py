"""python -m fetcher: download every image URL ingest asks for."""

from fetcher.backpressure import CompressorBacklog
from fetcher.handler import handle, record_failure
from shared.consumer import Route, run
from shared.events import FetchRequested
from shared.names import FETCH_BULK_REQUESTED, FETCH_REQUESTED, ORIGINAL_STORED
from shared.runtime import Clients

compressor_backlog = CompressorBacklog(ORIGINAL_STORED.name)


async def fetch_requested(clients: Clients, body: bytes) -> None:
    await handle(FetchRequested.decode(body), clients)


async def bulk_fetch_requested(clients: Clients, body: bytes) -> None:
    # Held (unacked) while the compressor is behind: a big request's backlog waits in its lane,
    # which small requests overtake, not in the compressor's queue, which they cannot.
    await compressor_backlog.hold(clients)
    stored = False
    try:
        stored = await handle(FetchRequested.decode(body), clients)
    finally:
        if not stored:  # failed, or its output was reused: nothing for the compressor
            compressor_backlog.added_nothing()


async def give_up(clients: Clients, body: bytes, reason: str) -> None:
    await record_failure(FetchRequested.decode(body), reason, clients)


# Every lane, each with its own prefetch window: small requests are never stuck behind a big
# one, and up to BULK_LANES big requests are fetched side by side. Only bulk lanes are held.
run(
    "fetcher",
    {
        FETCH_REQUESTED.name: Route(fetch_requested, give_up),
        **{spec.name: Route(bulk_fetch_requested, give_up) for spec in FETCH_BULK_REQUESTED},
    },
)
