"""notifier: record each image's outcome; close the request and call its webhook at the end."""

import logging
from typing import Any

from notifier.webhook import deliver
from shared import logs, timeline
from shared.errors import PermanentError, RetryLater
from shared.events import ImageFailed, ObjectCreated, RequestFailed, WebhookDue
from shared.names import (
    META_FORMAT,
    META_IMAGE_ID,
    META_KEPT_SOURCE,
    META_ORIGINAL_KEY,
    META_QUALITY,
    META_REQUEST_ID,
    META_SOURCE_BYTES,
    WEBHOOK_DUE_ROUTING_KEY,
)
from shared.runtime import Clients
from shared.status import ImageStatus, RequestStatus

log = logging.getLogger(__name__)


async def on_image_compressed(event: ObjectCreated, clients: Clients) -> None:
    moments = timeline.from_metadata(event.metadata)
    if event.event_time_ms is not None:
        moments["compressed_stored"] = event.event_time_ms
    moments["notify_started"] = timeline.now_ms()
    try:
        request_id = event.metadata[META_REQUEST_ID]
        image_id = event.metadata[META_IMAGE_ID]
        fields = {
            "compressed_key": event.key,
            "original_key": event.metadata.get(META_ORIGINAL_KEY),
            "bytes_in": int(event.metadata[META_SOURCE_BYTES]),
            "bytes_out": event.size,
            # None on objects written before the compressor recorded format and quality.
            "format": event.metadata.get(META_FORMAT),
            "quality": int(q) if (q := event.metadata.get(META_QUALITY)) else None,
            "kept_source": event.metadata.get(META_KEPT_SOURCE) == "true",
            "moments": moments,
        }
    except (KeyError, ValueError) as exc:
        raise PermanentError(f"{event.key}: missing or bad metadata {exc}") from exc
    await _finish_image(request_id, image_id, ImageStatus.DONE, fields, clients)


async def on_image_failed(message: ImageFailed, clients: Clients) -> None:
    fields = {"error": message.reason}
    await _finish_image(message.request_id, message.image_id, ImageStatus.FAILED, fields, clients)


async def on_request_failed(message: RequestFailed, clients: Clients) -> None:
    logs.bind(request_id=message.request_id)
    closed = await clients.db.close_request(
        message.request_id, RequestStatus.FAILED, message.reason
    )
    if closed is not None:
        await call_webhook(closed, clients)


async def _finish_image(
    request_id: str, image_id: str, status: ImageStatus, fields: dict[str, Any], clients: Clients
) -> None:
    logs.bind(request_id=request_id, image_id=image_id)
    if await clients.db.finish_image(image_id, status, fields):
        await clients.db.count_finished(request_id, status)
    # Also on a duplicate: an earlier delivery may have stopped before closing the request.
    await close_if_finished(request_id, clients)


async def close_if_finished(request_id: str, clients: Clients) -> None:
    """Give the request its final status once no image is pending; then call its webhook."""
    if await clients.db.has_pending_images(request_id):
        return
    closed = await clients.db.close_finished_request(request_id)
    if closed is not None:  # only the handler that closed the request calls the webhook
        log.info(
            "request %s: %d done, %d failed", closed["status"], closed["done"], closed["failed"]
        )
        await call_webhook(closed, clients)


async def call_webhook(request: dict[str, Any], clients: Clients) -> None:
    """Queue the webhook; delivering it (and retrying) is on_webhook_due's job."""
    if request.get("webhook_url"):
        await clients.publisher.publish(WEBHOOK_DUE_ROUTING_KEY, WebhookDue(request["_id"]))


async def on_webhook_due(message: WebhookDue, clients: Clients) -> None:
    logs.bind(request_id=message.request_id)
    request = await clients.db.get_request(message.request_id)
    if request is None:
        raise PermanentError(f"webhook due for unknown request {message.request_id}")
    if request.get("webhook_state") in ("delivered", "failed"):
        return  # a duplicate message: delivered (or given up) already
    outcome = await deliver(clients.http, request["webhook_url"], request, clients.settings)
    state = "delivered" if outcome.ok else None if outcome.retryable else "failed"
    log.info("webhook attempt: %s", outcome.error or f"HTTP {outcome.status_code}")
    await clients.db.record_webhook(message.request_id, outcome.record(), state)
    if state is None:
        raise RetryLater(f"webhook not delivered: {outcome.error}")


async def give_up_webhook(message: WebhookDue, reason: str, clients: Clients) -> None:
    await clients.db.record_webhook(message.request_id, {"ok": False, "error": reason}, "failed")
