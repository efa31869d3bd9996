"""compressor: an original landed in original-images → write its compressed copy."""

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache, partial
from typing import cast

from compressor.budget import PixelBudget
from compressor.compress import Format, compress, pixel_count
from shared import logs, timeline
from shared.cpus import available_cpus
from shared.errors import ImageError, PermanentError
from shared.events import ImageFailed, ObjectCreated
from shared.names import (
    COMPRESSED_BUCKET,
    DEFAULT_FORMAT,
    FAILED_ROUTING_KEY,
    META_FORMAT,
    META_IMAGE_ID,
    META_KEPT_SOURCE,
    META_ORIGINAL_KEY,
    META_QUALITY,
    META_REQUEST_ID,
    META_SOURCE_BYTES,
    OUTPUT_FORMATS,
    image_key,
)
from shared.runtime import Clients

log = logging.getLogger(__name__)
# One codec thread per core: more would add memory, not speed (Pillow and mozjpeg release the
# GIL, so these threads use every core while the event loop stays free).
_CODEC_THREADS = ThreadPoolExecutor(available_cpus(), thread_name_prefix="codec")


@cache
def _pixel_budget(capacity: int) -> PixelBudget:
    return PixelBudget(capacity)


@dataclass(frozen=True)
class OriginalStored:
    """What the compressor needs to know about an original, read from its metadata."""

    request_id: str
    image_id: str
    quality: int
    format: Format
    key: str
    # The moments so far (shared/timeline.py): the fetcher's, and the original's store time.
    moments: dict[str, int]

    @classmethod
    def from_event(cls, event: ObjectCreated) -> "OriginalStored":
        # Originals stored before formats existed carry none: they were all JPEG requests.
        output_format = event.metadata.get(META_FORMAT, DEFAULT_FORMAT)
        if output_format not in OUTPUT_FORMATS:
            raise PermanentError(f"{event.key}: unknown output format {output_format!r}")
        moments = timeline.from_metadata(event.metadata)
        if event.event_time_ms is not None:
            moments["original_stored"] = event.event_time_ms
        try:
            return cls(
                request_id=event.metadata[META_REQUEST_ID],
                image_id=event.metadata[META_IMAGE_ID],
                quality=int(event.metadata[META_QUALITY]),
                format=cast(Format, output_format),
                key=event.key,
                moments=moments,
            )
        except (KeyError, ValueError) as exc:
            raise PermanentError(f"{event.key}: missing or bad metadata {exc}") from exc


async def handle(event: ObjectCreated, clients: Clients) -> None:
    started = timeline.now_ms()
    original = OriginalStored.from_event(event)
    logs.bind(request_id=original.request_id, image_id=original.image_id, key=event.key)
    if not await clients.db.image_pending(original.image_id):
        return  # finished already: a duplicate event
    data = await clients.store.get(event.bucket, event.key)
    settings = clients.settings
    work = partial(
        compress,
        data,
        original.quality,
        max_pixels=settings.max_image_pixels,
        format=original.format,
        background=settings.background,
    )
    try:
        # Memory follows the pixels being worked on, so they are what is bounded.
        async with _pixel_budget(settings.compress_pixels_in_flight).hold(pixel_count(data)):
            result = await asyncio.get_running_loop().run_in_executor(_CODEC_THREADS, work)
    except ImageError as exc:
        log.warning("image failed: %s", exc)
        await record_failure(original, str(exc), clients)
        return
    compressed = timeline.now_ms()
    await clients.store.put(
        COMPRESSED_BUCKET,
        image_key(original.image_id, result.extension),
        result.data,
        result.content_type,
        {
            META_REQUEST_ID: original.request_id,
            META_IMAGE_ID: original.image_id,
            META_SOURCE_BYTES: str(len(data)),
            META_ORIGINAL_KEY: original.key,
            META_FORMAT: result.format,
            META_QUALITY: str(result.quality),
            META_KEPT_SOURCE: "true" if result.kept_source else "false",
            **timeline.to_metadata(
                {**original.moments, "compress_started": started, "compressed": compressed}
            ),
        },
    )
    log.info("compressed: %d → %d bytes of %s", len(data), len(result.data), result.format)


async def record_failure(original: OriginalStored, reason: str, clients: Clients) -> None:
    """Tell the notifier this image failed, so its request can still complete."""
    failed = ImageFailed(original.request_id, original.image_id, reason)
    await clients.publisher.publish(FAILED_ROUTING_KEY, failed)
