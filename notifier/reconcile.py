"""The reconciler: every request reaches a final status, even when an event was lost.

Every `reconcile_interval_s` one notifier replica (holding a lease in MongoDB) looks at the
requests that made no progress for `stuck_after_s`, re-derives each unfinished image's state
from the buckets, and re-issues the step that is missing: the compressed object's event, the
original's event, or the fetch itself. Every handler is idempotent, so re-issuing work that
was merely slow costs time, never correctness. Counts are re-derived from the images (a crash
between recording an image and counting it), and requests older than `request_deadline_s`
are finished with their unfinished images failed and a clear reason. The same replica then
runs the retention sweep when it is due (notifier/sweep.py).
"""

import asyncio
import logging
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from enum import Enum

from notifier.handler import call_webhook, close_if_finished
from notifier.sweep import Sweeper
from shared.events import (
    FETCHES_PER_MESSAGE,
    FetchRequested,
    ImageFailed,
    RequestFailed,
    batches_of,
)
from shared.names import (
    COMPRESSED_BUCKET,
    FAILED_ROUTING_KEY,
    ORIGINALS_BUCKET,
    REQUEST_FAILED_ROUTING_KEY,
    fetch_routing_key,
    image_key,
)
from shared.records import RequestRecord
from shared.runtime import Clients
from shared.status import ImageStatus, RequestStatus

log = logging.getLogger(__name__)
LEASE = "reconciler"


class Step(Enum):
    """What an unfinished image needs next, judged from the objects that exist."""

    ANNOUNCE_COMPRESSED = "announce the compressed object again"
    ANNOUNCE_ORIGINAL = "announce the original again"
    FETCH = "fetch again"


def next_step(
    image_id: str, originals: Iterable[str], compressed: Iterable[str]
) -> tuple[Step, str | None]:
    """The step, and the key of the object to announce again (None for a fetch)."""
    stem = image_key(image_id, "")  # "<request>/<row>-<slot>." — keys end with their type
    output = next((key for key in sorted(compressed) if key.startswith(stem)), None)
    if output is not None:
        return Step.ANNOUNCE_COMPRESSED, output
    original = next((key for key in sorted(originals) if key.startswith(stem)), None)
    if original is not None:
        return Step.ANNOUNCE_ORIGINAL, original
    return Step.FETCH, None


async def reconcile_forever(clients: Clients) -> None:
    """Run a pass every interval for as long as the process lives."""
    holder = uuid.uuid4().hex
    interval = clients.settings.reconcile_interval_s
    sweeper = Sweeper()
    while True:
        try:
            if await clients.db.leases.acquire(LEASE, holder, interval * 2):
                await reconcile_once(clients)
                await sweeper.run_if_due(clients)
        except Exception:  # a broker or database hiccup: try again next round
            log.exception("reconciliation pass failed")
        await asyncio.sleep(interval)


async def reconcile_once(clients: Clients) -> None:
    settings = clients.settings
    idle_since = datetime.now(UTC) - timedelta(seconds=settings.stuck_after_s)
    for request in await clients.db.requests.stuck(idle_since):
        await _reconcile_request(request, clients)
    for request in await clients.db.requests.undelivered_webhooks(idle_since):
        log.warning("request %s: its webhook was never settled; queueing it again", request.id)
        await call_webhook(request, clients)


async def _reconcile_request(request: RequestRecord, clients: Clients) -> None:
    if request.status == RequestStatus.PENDING or not request.fanned_out:
        await _restart_ingest(request, clients)
    else:
        counts = await clients.db.images.count(request.id)
        done, failed = counts.get(ImageStatus.DONE, 0), counts.get(ImageStatus.FAILED, 0)
        if (done, failed) != (request.done, request.failed):
            log.warning(
                "request %s: counts corrected to %d done, %d failed", request.id, done, failed
            )
            await clients.db.requests.raise_counts(request.id, done, failed)
        await close_if_finished(request, clients)
        if done + failed < request.total:
            await _reissue_images(request, clients)
    await clients.db.requests.touch(request.id)


async def _restart_ingest(request: RequestRecord, clients: Clients) -> None:
    """Announce the request's CSV again, or fail the request if its CSV never arrived."""
    source = request.source
    csv = await clients.store.describe(source.bucket, source.key) if source else None
    if csv is not None:
        log.warning("request %s: ingest never finished; announcing its CSV again", request.id)
        await clients.publisher.announce(csv)
    else:
        reason = "the uploaded CSV never reached the inbox bucket"
        await clients.publisher.publish(
            REQUEST_FAILED_ROUTING_KEY, RequestFailed(request.id, reason)
        )


async def _reissue_images(request: RequestRecord, clients: Clients) -> None:
    settings = clients.settings
    last_progress = request.progress_at or request.created_at
    deadline = timedelta(seconds=settings.request_deadline_s)
    expired = last_progress < datetime.now(UTC) - deadline
    originals = set(await clients.store.keys(ORIGINALS_BUCKET, f"{request.id}/"))
    compressed = set(await clients.store.keys(COMPRESSED_BUCKET, f"{request.id}/"))
    # The lane ingest gave the request (none for a small one): re-issued fetches wait their
    # turn there, not ahead of other big requests. Sent a batch at a time as they are found:
    # a million-image request's fetches are never all in memory.
    lane = fetch_routing_key(request.fetch_lane)
    fetches: list[FetchRequested] = []

    async def send() -> None:
        for batch in batches_of(fetches):
            await clients.publisher.publish(lane, batch)
        fetches.clear()

    async for image in clients.db.images.pending(request.id):
        if expired:
            reason = f"no progress for {settings.request_deadline_s:.0f} s; gave up"
            failed = ImageFailed(request.id, image.id, reason)
            await clients.publisher.publish(FAILED_ROUTING_KEY, failed)
            continue
        step, key = next_step(image.id, originals, compressed)
        log.warning("image %s is stuck: %s", image.id, step.value)
        if key is None:
            fetches.append(FetchRequested.of(request, image))
            if len(fetches) == FETCHES_PER_MESSAGE:
                await send()
            continue
        bucket = COMPRESSED_BUCKET if step is Step.ANNOUNCE_COMPRESSED else ORIGINALS_BUCKET
        obj = await clients.store.describe(bucket, key)
        if obj is not None:
            await clients.publisher.announce(obj)
    await send()
