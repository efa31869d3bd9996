"""python -m notifier: track image outcomes, close requests, call webhooks."""

from notifier.handler import (
    give_up_webhook,
    on_image_compressed,
    on_image_failed,
    on_image_reused,
    on_request_failed,
    on_webhook_due,
)
from notifier.reconcile import reconcile_forever
from shared.consumer import GivenUp, Route, run
from shared.events import ImageFailed, ImageReused, RequestFailed, WebhookDue, decode_bucket_event
from shared.names import IMAGE_COMPRESSED, IMAGE_FAILED, IMAGE_REUSED, REQUEST_FAILED, WEBHOOK_DUE
from shared.runtime import Clients


async def image_compressed(clients: Clients, body: bytes) -> None:
    for event in decode_bucket_event(body):
        await on_image_compressed(event, clients)


async def image_failed(clients: Clients, body: bytes) -> None:
    await on_image_failed(ImageFailed.decode(body), clients)


async def image_reused(clients: Clients, body: bytes) -> None:
    await on_image_reused(ImageReused.decode(body), clients)


async def request_failed(clients: Clients, body: bytes) -> None:
    await on_request_failed(RequestFailed.decode(body), clients)


async def webhook_due(clients: Clients, body: bytes) -> None:
    await on_webhook_due(WebhookDue.decode(body), clients)


async def webhook_given_up(clients: Clients, body: bytes, given_up: GivenUp) -> None:
    await give_up_webhook(WebhookDue.decode(body), str(given_up), clients)


run(
    "notifier",
    {
        IMAGE_COMPRESSED.name: Route(image_compressed),
        IMAGE_FAILED.name: Route(image_failed),
        IMAGE_REUSED.name: Route(image_reused),
        REQUEST_FAILED.name: Route(request_failed),
        WEBHOOK_DUE.name: Route(webhook_due, webhook_given_up),
    },
    requires=("WEBHOOK_SECRET",),
    background=reconcile_forever,
)
