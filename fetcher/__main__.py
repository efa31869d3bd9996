"""python -m fetcher: download every image URL ingest asks for."""

from fetcher.handler import handle
from shared.consumer import run
from shared.events import FetchRequested
from shared.names import FETCH_REQUESTED
from shared.runtime import Clients


async def on_fetch_requested(clients: Clients, body: bytes, attempt: int) -> None:
    await handle(FetchRequested.decode(body), attempt, clients)


run("fetcher", {FETCH_REQUESTED.name: on_fetch_requested})
