"""notifier: record each image's outcome; close the request and call its webhook at the end."""

import logging
from functools import partial

import msgspec

from notifier.batch import GroupCommit
from notifier.webhook import deliver
from shared import logs, timeline
from shared.errors import PermanentError, RetryLater
from shared.events import ImageFailed, ImageReused, ObjectCreated, RequestFailed, WebhookDue
from shared.metadata import CompressedMeta
from shared.names import WEBHOOK_DUE_ROUTING_KEY, is_variant_key
from shared.records import Output, RequestRecord, WebhookState
from shared.runtime import Clients
from shared.status import ImageStatus, RequestStatus

log = logging.getLogger(__name__)


async def on_image_compressed(event: ObjectCreated, clients: Clients) -> None:
    if is_variant_key(event.key):
        return  # a srcset variant: its output's event, which comes after it, records it
    meta = CompressedMeta.read(event)
    if event.event_time_ms is not None:
        meta = meta.with_moments(compressed_stored=event.event_time_ms)
    meta = meta.with_moments(notify_started=timeline.now_ms())
    output = Output(
        compressed_key=event.key,
        original_key=meta.original_key,
        bytes_in=meta.source_bytes,
        bytes_out=event.size,
        format=meta.format,
        quality=meta.quality,
        kept_source=meta.kept_source,
        score=meta.score,
        score_whole=meta.score_whole,
        width=meta.width,
        height=meta.height,
        frames=meta.frames,
        revalidated=meta.revalidated,
        variants=meta.stored_variants(event.key),
        moments=meta.moments,
    )
    await _record_done(meta.request_id, meta.image_id, output, clients)


async def on_image_reused(message: ImageReused, clients: Clients) -> None:
    """An output stored before stands for this image (shared/reuse.py): nothing was written.

    A re-run's unchanged images (revalidated) come by the thousand: they are recorded together
    with those arriving meanwhile, in one write for the images and one count per request."""
    output = message.output_record()
    output = msgspec.structs.replace(
        output, moments={**output.moments, "notify_started": timeline.now_ms()}
    )
    if not output.revalidated:
        await _record_done(message.request_id, message.image_id, output, clients)
        return
    if id(clients) not in _REVALIDATED:
        _REVALIDATED[id(clients)] = GroupCommit(partial(_record_revalidated, clients=clients))
    await _REVALIDATED[id(clients)].add((message.request_id, message.image_id, output))


_REVALIDATED: dict[int, GroupCommit[tuple[str, str, Output]]] = {}  # per process's clients


async def _record_revalidated(finished: list[tuple[str, str, Output]], clients: Clients) -> None:
    by_request: dict[str, list[tuple[str, Output]]] = {}
    for request_id, image_id, output in finished:
        by_request.setdefault(request_id, []).append((image_id, output))
    for request_id, images in by_request.items():
        newly = await clients.db.images.finish_many_done(images)
        # Only those not finished before are counted (a duplicate was counted by its first
        # delivery); each adds no stored bytes: its original and output are earlier ones.
        if newly:
            request = await clients.db.requests.count_revalidated(request_id, newly)
        else:
            request = await clients.db.requests.get(request_id)
        if request is not None and request.done + request.failed >= request.total:
            await close_if_finished(request_id, clients)


async def _record_done(request_id: str, image_id: str, output: Output, clients: Clients) -> None:
    logs.bind(request_id=request_id, image_id=image_id)
    newly = await clients.db.images.finish_done(image_id, output)
    await _count(request_id, ImageStatus.DONE, newly, clients, output)


async def on_image_failed(message: ImageFailed, clients: Clients) -> None:
    logs.bind(request_id=message.request_id, image_id=message.image_id)
    newly = await clients.db.images.finish_failed(message.image_id, message.reason)
    await _count(message.request_id, ImageStatus.FAILED, newly, clients)


async def _count(
    request_id: str,
    status: ImageStatus,
    newly: bool,
    clients: Clients,
    output: Output | None = None,
) -> None:
    """Count a finished image; close its request once the counts say every image finished.

    The counts decide when to look, so a 100,000-image request costs one counted write per
    image, not a search for pending images each time. A duplicate (`newly` False) was counted
    by its first delivery, which may have stopped before closing: it looks again. An increment
    lost to a crash leaves the counts short until the reconciler re-derives them.
    """
    if newly:
        request = await clients.db.requests.count_finished(request_id, status, output)
    else:
        request = await clients.db.requests.get(request_id)
    if request is not None and request.done + request.failed >= request.total:
        await close_if_finished(request_id, clients)


async def on_request_failed(message: RequestFailed, clients: Clients) -> None:
    logs.bind(request_id=message.request_id)
    closed = await clients.db.requests.close(
        message.request_id, RequestStatus.FAILED, message.reason
    )
    if closed is not None:
        await call_webhook(closed, clients)


async def close_if_finished(request_id: str, clients: Clients) -> None:
    """Give the request its final status once no image is pending; then call its webhook."""
    if await clients.db.images.any_pending(request_id):
        return
    counts = await clients.db.images.count(request_id)
    revalidated, reused = await clients.db.images.count_reuse(request_id)
    closed = await clients.db.requests.close_finished(request_id, counts, revalidated, reused)
    if closed is not None:  # only the handler that closed the request calls the webhook
        log.info("request %s: %d done, %d failed", closed.status, closed.done, closed.failed)
        await call_webhook(closed, clients)


async def call_webhook(request: RequestRecord, clients: Clients) -> None:
    """Queue the webhook; delivering it (and retrying) is on_webhook_due's job."""
    if request.webhook_url:
        await clients.publisher.publish(WEBHOOK_DUE_ROUTING_KEY, WebhookDue(request.id))


async def on_webhook_due(message: WebhookDue, clients: Clients) -> None:
    logs.bind(request_id=message.request_id)
    request = await clients.db.requests.get(message.request_id)
    if request is None:
        raise PermanentError(f"webhook due for unknown request {message.request_id}")
    if request.webhook_state is not None or request.webhook_url is None:
        return  # a duplicate message: delivered (or given up) already
    outcome = await deliver(clients.http, request.webhook_url, request, clients.settings)
    log.info("webhook attempt: %s", outcome.error or f"HTTP {outcome.status_code}")
    await clients.db.requests.record_webhook(
        message.request_id, outcome.ok, outcome.status_code, outcome.error, outcome.state
    )
    if outcome.state is None:
        raise RetryLater(f"webhook not delivered: {outcome.error}")


async def give_up_webhook(message: WebhookDue, reason: str, clients: Clients) -> None:
    await clients.db.requests.record_webhook(
        message.request_id, False, None, reason, WebhookState.FAILED
    )
