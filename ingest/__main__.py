"""python -m ingest: turn every CSV that lands in the inbox bucket into a request.

The HTTP gateway is `python -m ingest.gateway`.
"""

from ingest.handler import handle, request_id_for
from shared.consumer import GivenUp, Route, run
from shared.events import RequestFailed, decode_bucket_event
from shared.names import CSV_UPLOADED, REQUEST_FAILED_ROUTING_KEY
from shared.runtime import Clients
from shared.status import RequestStatus


async def csv_uploaded(clients: Clients, body: bytes) -> None:
    for event in decode_bucket_event(body):
        await handle(event, clients)


async def give_up(clients: Clients, body: bytes, given_up: GivenUp) -> None:
    for event in decode_bucket_event(body):
        request = await clients.db.requests.get(request_id_for(event))
        if request is not None and request.status != RequestStatus.PENDING:
            continue  # its rows are in and its fan-out is owned: the reconciler sees it through
        failed = RequestFailed(request_id_for(event), f"could not read the CSV: {given_up}")
        await clients.publisher.publish(REQUEST_FAILED_ROUTING_KEY, failed)


run("ingest", {CSV_UPLOADED.name: Route(csv_uploaded, give_up)})
