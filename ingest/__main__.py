"""python -m ingest: turn every CSV that lands in the inbox bucket into a request.

The HTTP gateway is `python -m ingest.gateway`.
"""

from ingest.handler import handle
from shared.consumer import run
from shared.events import decode_bucket_event
from shared.names import CSV_UPLOADED
from shared.runtime import Clients


async def on_csv_uploaded(clients: Clients, body: bytes, attempt: int) -> None:
    for event in decode_bucket_event(body):
        await handle(event, clients)


run("ingest", {CSV_UPLOADED.name: on_csv_uploaded})
