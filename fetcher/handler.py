"""fetcher: download one image URL and store the original in original-images."""

import logging

from fetcher.download import TransientFetchError, download
from shared import logs, timeline
from shared.errors import ImageError, RetryLater
from shared.events import FetchRequested, ImageFailed
from shared.metadata import OriginalMeta
from shared.names import FAILED_ROUTING_KEY, ORIGINALS_BUCKET, image_key
from shared.runtime import Clients

log = logging.getLogger(__name__)


async def handle(message: FetchRequested, clients: Clients) -> None:
    started = timeline.now_ms()
    logs.bind(request_id=message.request_id, image_id=message.image_id, url=message.url)
    if not await clients.db.images.is_pending(message.image_id):
        return  # finished already: a duplicate, or work the reconciler re-issued meanwhile
    settings = clients.settings
    try:
        image = await download(
            clients.http,
            message.url,
            max_bytes=settings.max_image_bytes,
            allow=settings.fetch_allow,
        )
    except ImageError as exc:  # 404, not an image, too large, blocked address…
        log.warning("image failed: %s", exc)
        await record_failure(message, str(exc), clients)
        return
    except TransientFetchError as exc:  # 5xx, 429, timeouts, resets: the broker retries
        raise RetryLater(str(exc), exc.retry_after) from exc
    moments = {"fetch_started": started, "fetched": timeline.now_ms()}
    if message.published_at:
        moments["published"] = message.published_at
    meta = OriginalMeta(
        request_id=message.request_id,
        image_id=message.image_id,
        quality=message.quality,
        level=message.level or None,
        format=message.format,
        effort=message.effort,
        max_bytes=message.max_bytes or None,
        max_width=message.max_width or None,
        max_height=message.max_height or None,
        widths=message.widths,
        metadata=message.metadata,
        animation=message.animation,
        moments=moments,
    )
    key = image_key(message.image_id, image.extension)
    await clients.store.put(
        ORIGINALS_BUCKET, key, image.data, image.content_type, meta.to_metadata()
    )
    log.info("original stored: %d bytes of %s", len(image.data), image.content_type)


async def record_failure(message: FetchRequested, reason: str, clients: Clients) -> None:
    """Tell the notifier this image failed, so its request can still complete."""
    failed = ImageFailed(message.request_id, message.image_id, reason)
    await clients.publisher.publish(FAILED_ROUTING_KEY, failed)
