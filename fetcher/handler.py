"""fetcher: download one image URL and store the original in original-images."""

from fetcher.download import TransientFetchError, download
from shared.errors import ImageError
from shared.events import FetchRequested, ImageFailed
from shared.names import (
    FAILED_ROUTING_KEY,
    META_IMAGE_ID,
    META_QUALITY,
    META_REQUEST_ID,
    ORIGINALS_BUCKET,
    image_key,
)
from shared.runtime import Clients

# A URL that keeps failing transiently (5xx, timeouts, resets) is recorded as failed after
# this many deliveries, so the request still completes.
MAX_ATTEMPTS = 3


async def handle(message: FetchRequested, attempt: int, clients: Clients) -> None:
    settings = clients.settings
    try:
        image = await download(
            clients.http,
            message.url,
            max_bytes=settings.max_image_bytes,
            allow=settings.fetch_allow_cidrs,
        )
    except ImageError as exc:
        await _record_failure(message, str(exc), clients)
        return
    except TransientFetchError as exc:
        if attempt < MAX_ATTEMPTS:
            raise
        await _record_failure(message, f"{exc} (gave up after {attempt} attempts)", clients)
        return
    await clients.store.put(
        ORIGINALS_BUCKET,
        image_key(message.image_id, image.extension),
        image.data,
        image.content_type,
        {
            META_REQUEST_ID: message.request_id,
            META_IMAGE_ID: message.image_id,
            META_QUALITY: str(message.quality),
        },
    )


async def _record_failure(message: FetchRequested, reason: str, clients: Clients) -> None:
    failed = ImageFailed(message.request_id, message.image_id, reason)
    await clients.publisher.publish(FAILED_ROUTING_KEY, failed)
