"""The reconciler: every request reaches a final status, even when an event was lost.

Every `reconcile_interval_s` one notifier replica (holding a lease in MongoDB) looks at the
requests that made no progress for `stuck_after_s`, re-derives each unfinished image's state
from the buckets, and re-issues the step that is missing: the compressed object's event, the
original's event, or the fetch itself. Every handler is idempotent, so re-issuing work that
was merely slow costs time, never correctness. Counts are re-derived from the images (a crash
between recording an image and counting it), and requests older than `request_deadline_s`
are finished with their unfinished images failed and a clear reason.
"""

import asyncio
import logging
import uuid
from collections.abc import Iterable
from datetime import timedelta
from enum import Enum
from typing import Any

from notifier.handler import call_webhook, close_if_finished
from shared import timeline
from shared.db import now
from shared.events import FetchRequested, ImageFailed, RequestFailed
from shared.names import (
    COMPRESSED_BUCKET,
    DEFAULT_FORMAT,
    FAILED_ROUTING_KEY,
    ORIGINALS_BUCKET,
    REQUEST_FAILED_ROUTING_KEY,
    fetch_routing_key,
    image_key,
)
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
    while True:
        try:
            if await clients.db.acquire_lease(LEASE, holder, interval * 2):
                await reconcile_once(clients)
        except Exception:  # a broker or database hiccup: try again next round
            log.exception("reconciliation pass failed")
        await asyncio.sleep(interval)


async def reconcile_once(clients: Clients) -> None:
    settings = clients.settings
    idle_since = now() - timedelta(seconds=settings.stuck_after_s)
    for request in await clients.db.stuck_requests(idle_since):
        await _reconcile_request(request, clients)
    for request in await clients.db.undelivered_webhooks(idle_since):
        log.warning("request %s: its webhook was never settled; queueing it again", request["_id"])
        await call_webhook(request, clients)


async def _reconcile_request(request: dict[str, Any], clients: Clients) -> None:
    request_id = request["_id"]
    if request["status"] == RequestStatus.PENDING or not request.get("fanned_out"):
        await _restart_ingest(request, clients)
    else:
        counts = await clients.db.count_images(request_id)
        done, failed = counts.get(ImageStatus.DONE, 0), counts.get(ImageStatus.FAILED, 0)
        if (done, failed) != (request["done"], request["failed"]):
            log.warning(
                "request %s: counts corrected to %d done, %d failed", request_id, done, failed
            )
            await clients.db.raise_counts(request_id, done, failed)
        await close_if_finished(request_id, clients)
        if done + failed < request["total"]:
            await _reissue_images(request, clients)
    await clients.db.touch(request_id)


async def _restart_ingest(request: dict[str, Any], clients: Clients) -> None:
    """Announce the request's CSV again, or fail the request if its CSV never arrived."""
    source = request.get("source") or {}
    csv = await clients.store.describe(source["bucket"], source["key"]) if source else None
    if csv is not None:
        log.warning("request %s: ingest never finished; announcing its CSV again", request["_id"])
        await clients.publisher.announce(csv)
    else:
        reason = "the uploaded CSV never reached the inbox bucket"
        await clients.publisher.publish(
            REQUEST_FAILED_ROUTING_KEY, RequestFailed(request["_id"], reason)
        )


async def _reissue_images(request: dict[str, Any], clients: Clients) -> None:
    settings = clients.settings
    request_id = request["_id"]
    last_progress = request.get("progress_at") or request["created_at"]
    expired = last_progress < now() - timedelta(seconds=settings.request_deadline_s)
    originals = set(await clients.store.keys(ORIGINALS_BUCKET, f"{request_id}/"))
    compressed = set(await clients.store.keys(COMPRESSED_BUCKET, f"{request_id}/"))
    async for image in clients.db.iter_images(request_id, ImageStatus.PENDING):
        image_id = image["_id"]
        if expired:
            reason = f"no progress for {settings.request_deadline_s:.0f} s; gave up"
            failed = ImageFailed(request_id, image_id, reason)
            await clients.publisher.publish(FAILED_ROUTING_KEY, failed)
            continue
        step, key = next_step(image_id, originals, compressed)
        log.warning("image %s is stuck: %s", image_id, step.value)
        if key is None:
            fetch = FetchRequested(
                request_id,
                image_id,
                image["url"],
                int(request["quality"]),
                request.get("format", DEFAULT_FORMAT),
                timeline.now_ms(),
            )
            # The lane ingest gave the request (none for a small one): re-issued fetches wait
            # their turn there, not ahead of other big requests.
            lane = fetch_routing_key(request.get("fetch_lane"))
            await clients.publisher.publish(lane, fetch)
            continue
        bucket = COMPRESSED_BUCKET if step is Step.ANNOUNCE_COMPRESSED else ORIGINALS_BUCKET
        obj = await clients.store.describe(bucket, key)
        if obj is not None:
            await clients.publisher.announce(obj)
