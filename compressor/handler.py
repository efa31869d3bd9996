"""compressor: an original landed in original-images → write its compressed copy."""

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from functools import cache, partial

import msgspec

from compressor.budget import PixelBudget
from compressor.compress import Compressed, compress, memory_weight, pixel_count
from compressor.memory import TrimWhenIdle
from shared import logs, reuse, timeline
from shared.cpus import available_cpus
from shared.errors import ImageError
from shared.events import ImageFailed, ImageReused, ObjectCreated
from shared.metadata import CompressedMeta, OriginalMeta, VariantMeta
from shared.names import (
    COMPRESSED_BUCKET,
    FAILED_ROUTING_KEY,
    REUSED_ROUTING_KEY,
    image_key,
    variant_key,
)
from shared.runtime import Clients

log = logging.getLogger(__name__)
# One codec thread per core: more would add memory, not speed (Pillow and mozjpeg release the
# GIL, so these threads use every core while the event loop stays free).
_CODEC_THREADS = ThreadPoolExecutor(available_cpus(), thread_name_prefix="codec")


@cache
def _pixel_budget(capacity: int) -> PixelBudget:
    return PixelBudget(capacity)


@cache
def _trim_when_idle(budget: PixelBudget) -> TrimWhenIdle:
    return TrimWhenIdle(budget)


def original_of(event: ObjectCreated) -> OriginalMeta:
    """The original's metadata, with the moment the store wrote it (its event's time)."""
    original = OriginalMeta.read(event)
    if event.event_time_ms is None:
        return original
    return original.with_moments(original_stored=event.event_time_ms)


async def handle(event: ObjectCreated, clients: Clients) -> None:
    started = timeline.now_ms()
    original = original_of(event)
    logs.bind(request_id=original.request_id, image_id=original.image_id, key=event.key)
    if not await clients.db.images.is_pending(original.image_id):
        return  # finished already: a duplicate event
    data = await clients.store.get(event.bucket, event.key)
    digest = reuse.source_digest(data)
    result_id = reuse.result_id(original.tenant, digest, original, clients.settings.background)
    if original.tenant and await reuse_output(
        original, event, result_id, digest, len(data), clients
    ):
        return  # the same bytes with the same settings were compressed before
    try:
        result = await compressed(data, original, clients)
    except ImageError as exc:
        log.warning("image failed: %s", exc)
        await record_failure(original, str(exc), clients)
        return
    key = image_key(original.image_id, result.extension)
    # Variants first: the output's own event tells the notifier the image is done.
    variant_keys = [variant_key(key, variant.width) for variant in result.variants]
    for variant, at in zip(result.variants, variant_keys, strict=True):
        meta = VariantMeta(
            request_id=original.request_id, image_id=original.image_id, width=variant.width
        )
        await clients.store.put(
            COMPRESSED_BUCKET, at, variant.data, result.content_type, meta.to_metadata()
        )
    stored = CompressedMeta(
        request_id=original.request_id,
        image_id=original.image_id,
        source_bytes=len(data),
        original_key=event.key,
        format=result.format,
        quality=result.quality,
        kept_source=result.kept_source,
        score=result.score,
        score_whole=None if result.score is None else result.score_whole,
        width=result.width,
        height=result.height,
        frames=result.frames,
        revalidated=original.revalidated,
        variants=",".join(f"{v.width}x{v.height}:{len(v.data)}" for v in result.variants),
        moments={**original.moments, "compress_started": started, "compressed": timeline.now_ms()},
    )
    stored = _made_from(stored, original, event, digest, result_id)
    await clients.store.put(
        COMPRESSED_BUCKET, key, result.data, result.content_type, stored.to_metadata()
    )
    log.info("compressed: %d → %d bytes of %s", len(data), len(result.data), result.format)


def _made_from(
    stored: CompressedMeta,
    original: OriginalMeta,
    event: ObjectCreated,
    digest: str,
    result_id: str,
) -> CompressedMeta:
    """With what a tenant's image was made from, for the tenant's later requests: the notifier
    records it with the image (shared/db/images.py)."""
    if not original.tenant:
        return stored
    return msgspec.structs.replace(
        stored,
        tenant=original.tenant,
        source_id=original.source_id,
        origin_etag=original.origin_etag,
        origin_last_modified=original.origin_last_modified,
        sha256=digest,
        source_type=event.content_type,
        result_id=result_id,
    )


async def reuse_output(
    original: OriginalMeta,
    event: ObjectCreated,
    result_id: str,
    digest: str,
    size: int,
    clients: Clients,
) -> bool:
    """Record the image as an earlier output of the same bytes and settings, if one is stored
    (the same image at another URL, or one whose origin sends no validators)."""
    found = await clients.db.results.get(result_id)
    now = datetime.now(UTC)
    days = clients.settings.retain_compressed_days
    if found is None or not reuse.reusable(found, digest, size, now, days):
        return False
    moments = {**original.moments, "compress_started": timeline.now_ms()}
    output = await reuse.stored_output(
        found, event.key, clients.store, revalidated=original.revalidated, moments=moments
    )
    if output is None:
        return False
    source = original.made_from(original.tenant, event.key, event.content_type, digest, size, now)
    reused = ImageReused.of(original.request_id, original.image_id, output, source, found.id)
    await clients.publisher.publish(REUSED_ROUTING_KEY, reused)
    log.info("same source and settings as before: output %s reused", found.compressed_key)
    return True


async def compressed(data: bytes, original: OriginalMeta, clients: Clients) -> Compressed:
    """compress() in a codec thread, once the pixel budget has room for the image."""
    settings = clients.settings
    work = partial(
        compress,
        data,
        original.wanted,
        max_pixels=settings.max_image_pixels,
        format=original.format,
        effort=original.effort,
        max_bytes=original.max_bytes,
        background=settings.background,
        size=original.sizes,
        metadata=original.metadata,
        animation=original.animation,
    )
    # Memory follows the pixels being worked on, so they are what is bounded.
    pixels = pixel_count(data, original.animation) * memory_weight(original.format)
    budget = _pixel_budget(settings.compress_pixels_in_flight)
    try:
        async with budget.hold(pixels):
            return await asyncio.get_running_loop().run_in_executor(_CODEC_THREADS, work)
    finally:
        _trim_when_idle(budget).finished()


async def record_failure(original: OriginalMeta, reason: str, clients: Clients) -> None:
    """Tell the notifier this image failed, so its request can still complete."""
    failed = ImageFailed(original.request_id, original.image_id, reason)
    await clients.publisher.publish(FAILED_ROUTING_KEY, failed)
