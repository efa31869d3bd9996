"""python -m fetcher: download every image URL ingest asks for, a batch to a message."""

from fetcher import batch
from fetcher.backpressure import CompressorBacklog
from shared.consumer import GivenUp, Route, run
from shared.events import FetchBatch
from shared.names import FETCH_BULK_REQUESTED, FETCH_REQUESTED, ORIGINAL_STORED
from shared.runtime import Clients


def fetches_in(lane: batch.Lane) -> Route:
    async def fetch_requested(clients: Clients, body: bytes) -> None:
        await batch.fetch_all(FetchBatch.decode(body), lane, clients)

    async def give_up(clients: Clients, body: bytes, given_up: GivenUp) -> None:
        await batch.give_up(FetchBatch.decode(body), given_up, clients)

    return Route(fetch_requested, give_up)


# Every lane, each with its own bound on fetches at once: small requests are never stuck behind
# a big one, and up to BULK_LANES big requests are fetched side by side. Only bulk lanes are
# held while the compressor is behind (one backlog for all: one compressor queue).
compressor_backlog = CompressorBacklog(ORIGINAL_STORED.name)
run(
    "fetcher",
    {
        FETCH_REQUESTED.name: fetches_in(batch.Lane()),
        **{spec.name: fetches_in(batch.Lane(compressor_backlog)) for spec in FETCH_BULK_REQUESTED},
    },
)
