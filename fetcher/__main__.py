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


# Both lanes, each with its own prefetch window: small requests are never stuck behind a big one.
run(
    "fetcher",
    {
        FETCH_REQUESTED.name: Route(fetch_requested, give_up),
        FETCH_BULK_REQUESTED.name: Route(fetch_requested, give_up),
    },
)
