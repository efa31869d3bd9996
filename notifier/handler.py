"""notifier: record each image's outcome; close the request and call its webhook at the end."""

import logging
from datetime import UTC, datetime
from functools import partial

import msgspec

from notifier.batch import GroupCommit
from notifier.webhook import deliver
from shared import logs, timeline
from shared.db.images import Outcome, PartlyFinished
from shared.db.requests import Tally
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
    source = meta.source(datetime.now(UTC))
    outcome = Outcome(meta.request_id, meta.image_id, output, "", source, meta.result_id or None)
    await _finish(outcome, clients)


async def on_image_reused(message: ImageReused, clients: Clients) -> None:
    """An output stored before stands for this image (shared/reuse.py): nothing was written."""
    output = message.output_record()
    output = msgspec.structs.replace(
        output, moments={**output.moments, "notify_started": timeline.now_ms()}
    )
    source, result_id = message.source_record(), message.result_id or None
    await _finish(
        Outcome(message.request_id, message.image_id, output, "", source, result_id), clients
    )


async def on_image_failed(message: ImageFailed, clients: Clients) -> None:
    await _finish(Outcome(message.request_id, message.image_id, None, message.reason), clients)


async def _finish(outcome: Outcome, clients: Clients) -> None:
    """Record the outcome with those arriving meanwhile (notifier/batch.py): images come by
    the thousand, and each burst costs one write for its images and one count per request."""
    logs.bind(request_id=outcome.request_id, image_id=outcome.image_id)
    if id(clients) not in _GROUPS:
        _GROUPS[id(clients)] = GroupCommit(partial(_record, clients=clients))
    await _GROUPS[id(clients)].add(outcome)


_GROUPS: dict[int, GroupCommit[Outcome]] = {}  # per process's clients


async def _record(outcomes: list[Outcome], clients: Clients) -> None:
    """Record each image once, then count those newly finished per request and close the
    requests whose counts say every image finished.

    A duplicate (an image finished before) was counted by its first delivery, which may have
    stopped before closing: its request is looked at again. The counts decide when to look,
    so a 100,000-image request is not searched for pending images at every burst.
    """
    failure: PartlyFinished | None = None
    try:
        finished = await clients.db.images.finish(outcomes)
    except PartlyFinished as exc:  # those written are counted; the burst is retried
        finished, failure = exc.finished, exc
    tallies: dict[str, Tally] = {o.request_id: Tally() for o in outcomes}
    for outcome in outcomes:
        if outcome.image_id in finished:  # counted once, though it may come twice
            finished.discard(outcome.image_id)
            tallies[outcome.request_id].add(outcome.output)
    for request_id, tally in tallies.items():
        if tally.increments():
            request = await clients.db.requests.count(request_id, tally)
            if request is None:
                await _drop_if_gone(request_id, clients)
        else:
            request = await clients.db.requests.get(request_id)
        if request is not None and request.done + request.failed >= request.total:
            await close_if_finished(request, clients)
    if failure is not None:
        raise failure


async def _drop_if_gone(request_id: str, clients: Clients) -> None:
    """Outcomes just written for a request deleted or expired meanwhile (a late duplicate):
    remove them, as its deletion removed the others."""
    request = await clients.db.requests.get(request_id)
    if request is None or request.status == RequestStatus.EXPIRED:
        await clients.db.images.delete_of_request(request_id)


async def on_request_failed(message: RequestFailed, clients: Clients) -> None:
    logs.bind(request_id=message.request_id)
    closed = await clients.db.requests.close(
        message.request_id, RequestStatus.FAILED, message.reason
    )
    if closed is not None:
        await call_webhook(closed, clients)


async def close_if_finished(request: RequestRecord, clients: Clients) -> None:
    """Give the request its final status once no image is pending; then call its webhook."""
    counts = await clients.db.images.count(request.id)
    if counts.get(ImageStatus.DONE, 0) + counts.get(ImageStatus.FAILED, 0) < request.total:
        return
    revalidated, reused = await clients.db.images.count_reuse(request.id)
    closed = await clients.db.requests.close_finished(request.id, counts, revalidated, reused)
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
