"""python -m notifier: track image outcomes, close requests, call webhooks."""

from notifier.handler import on_image_compressed, on_image_failed, on_request_failed
from shared.consumer import Route, run
from shared.events import ImageFailed, RequestFailed, decode_bucket_event
from shared.names import IMAGE_COMPRESSED, IMAGE_FAILED, REQUEST_FAILED
from shared.runtime import Clients


async def image_compressed(clients: Clients, body: bytes) -> None:
    for event in decode_bucket_event(body):
        await on_image_compressed(event, clients)


async def image_failed(clients: Clients, body: bytes) -> None:
    await on_image_failed(ImageFailed.decode(body), clients)


async def request_failed(clients: Clients, body: bytes) -> None:
    await on_request_failed(RequestFailed.decode(body), clients)


run(
    "notifier",
    {
        IMAGE_COMPRESSED.name: Route(image_compressed),
        IMAGE_FAILED.name: Route(image_failed),
        REQUEST_FAILED.name: Route(request_failed),
    },
)
