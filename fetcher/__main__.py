"""python -m fetcher: download every image URL ingest asks for."""

from fetcher.handler import handle, record_failure
from shared.consumer import Route, run
from shared.events import FetchRequested
from shared.names import FETCH_BULK_REQUESTED, FETCH_REQUESTED
from shared.runtime import Clients


async def fetch_requested(clients: Clients, body: bytes) -> None:
    await handle(FetchRequested.decode(body), clients)


async def give_up(clients: Clients, body: bytes, reason: str) -> None:
    await record_failure(FetchRequested.decode(body), reason, clients)


# Every lane, each with its own prefetch window: small requests are never stuck behind a big
# one, and up to BULK_LANES big requests are fetched side by side.
run(
    "fetcher",
    {
        spec.name: Route(fetch_requested, give_up)
        for spec in (FETCH_REQUESTED, *FETCH_BULK_REQUESTED)
    },
)
