"""python -m compressor: compress every original that lands in original-images."""

from compressor.handler import handle, original_of, record_failure
from shared.consumer import GivenUp, Route, run
from shared.events import decode_bucket_event
from shared.names import ORIGINAL_STORED
from shared.runtime import Clients


async def original_stored(clients: Clients, body: bytes) -> None:
    for event in decode_bucket_event(body):
        await handle(event, clients)


async def give_up(clients: Clients, body: bytes, given_up: GivenUp) -> None:
    for event in decode_bucket_event(body):
        await record_failure(original_of(event), str(given_up), clients)


run("compressor", {ORIGINAL_STORED.name: Route(original_stored, give_up)})
