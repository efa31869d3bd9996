"""python -m compressor: compress every original that lands in original-images."""

from compressor.handler import handle
from shared.consumer import run
from shared.events import decode_bucket_event
from shared.names import ORIGINAL_STORED
from shared.runtime import Clients


async def on_original_stored(clients: Clients, body: bytes, attempt: int) -> None:
    for event in decode_bucket_event(body):
        await handle(event, clients)


run("compressor", {ORIGINAL_STORED.name: on_original_stored})
