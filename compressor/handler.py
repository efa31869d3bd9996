"""compressor: an original landed in original-images → write its compressed copy."""

import asyncio
import logging
import os
from dataclasses import dataclass

from compressor.compress import compress
from shared import logs
from shared.errors import ImageError, PermanentError
from shared.events import ImageFailed, ObjectCreated
from shared.names import (
    COMPRESSED_BUCKET,
    FAILED_ROUTING_KEY,
    META_IMAGE_ID,
    META_ORIGINAL_KEY,
    META_QUALITY,
    META_REQUEST_ID,
    META_SOURCE_BYTES,
    image_key,
)
from shared.runtime import Clients

log = logging.getLogger(__name__)
_CODEC_SLOTS = asyncio.Semaphore(os.cpu_count() or 1)


@dataclass(frozen=True)
class OriginalStored:
    """What the compressor needs to know about an original, read from its metadata."""

    request_id: str
    image_id: str
    quality: int
    key: str

    @classmethod
    def from_event(cls, event: ObjectCreated) -> "OriginalStored":
        try:
            return cls(
                request_id=event.metadata[META_REQUEST_ID],
                image_id=event.metadata[META_IMAGE_ID],
                quality=int(event.metadata[META_QUALITY]),
                key=event.key,
            )
        except (KeyError, ValueError) as exc:
            raise PermanentError(f"{event.key}: missing or bad metadata {exc}") from exc


async def handle(event: ObjectCreated, clients: Clients) -> None:
    original = OriginalStored.from_event(event)
    logs.bind(request_id=original.request_id, image_id=original.image_id, key=event.key)
    if not await clients.db.image_pending(original.image_id):
        return  # finished already: a duplicate event
    data = await clients.store.get(event.bucket, event.key)
    try:
        # Pillow releases the GIL while decoding and encoding: a thread keeps the loop free.
        # One decode per core at a time: more would only add memory (a 16 MP image needs
        # ~110 MiB while it is being re-encoded), not speed.
        async with _CODEC_SLOTS:
            result = await asyncio.to_thread(
                compress, data, original.quality, max_pixels=clients.settings.max_image_pixels
            )
    except ImageError as exc:
        log.warning("image failed: %s", exc)
        await record_failure(original, str(exc), clients)
        return
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
        },
    )
    log.info("compressed: %d → %d bytes", len(data), len(result.data))


async def record_failure(original: OriginalStored, reason: str, clients: Clients) -> None:
    """Tell the notifier this image failed, so its request can still complete."""
    failed = ImageFailed(original.request_id, original.image_id, reason)
    await clients.publisher.publish(FAILED_ROUTING_KEY, failed)
