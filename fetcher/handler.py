"""fetcher: download one image URL and store the original in original-images.

A URL this tenant fetched before, whose origin gave an ETag or Last-Modified, is fetched
conditionally: a 304 reuses the original stored then (unless it is gone: then it is
downloaded again), and nothing is downloaded.
"""

import logging
from datetime import UTC, datetime

from fetcher.download import Downloaded, NotModified, TransientFetchError, Validators, download
from shared import logs, timeline
from shared.errors import ImageError, RetryLater
from shared.events import FetchRequested, ImageFailed
from shared.metadata import OriginalMeta
from shared.names import FAILED_ROUTING_KEY, ORIGINALS_BUCKET, image_key
from shared.records import SourceRecord, source_id
from shared.runtime import Clients

log = logging.getLogger(__name__)


async def handle(message: FetchRequested, clients: Clients) -> None:
    started = timeline.now_ms()
    logs.bind(request_id=message.request_id, image_id=message.image_id, url=message.url)
    if not await clients.db.images.is_pending(message.image_id):
        return  # finished already: a duplicate, or work the reconciler re-issued meanwhile
    known = await clients.db.sources.get(message.tenant, message.url) if message.tenant else None
    try:
        image, revalidated = await fetch(message.url, known, clients)
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
        revalidated=revalidated,
        tenant=message.tenant,
        moments=moments,
    )
    key = image_key(message.image_id, image.extension)
    await clients.store.put(
        ORIGINALS_BUCKET, key, image.data, image.content_type, meta.to_metadata()
    )
    log.info("original stored: %d bytes of %s", len(image.data), image.content_type)
    if message.tenant and not revalidated and image.validators:
        source = SourceRecord(
            id=source_id(message.tenant, message.url),
            tenant=message.tenant,
            url=message.url,
            etag=image.validators.etag,
            last_modified=image.validators.last_modified,
            original_key=key,
            content_type=image.content_type,
            extension=image.extension,
            stored_at=datetime.now(UTC),
        )
        await clients.db.sources.remember(source)


async def fetch(url: str, known: SourceRecord | None, clients: Clients) -> tuple[Downloaded, bool]:
    """The image, and whether it is the stored original revalidated (304) or downloaded."""
    settings = clients.settings

    async def get(validators: Validators | None) -> Downloaded | NotModified:
        return await download(
            clients.http,
            url,
            max_bytes=settings.max_image_bytes,
            allow=settings.fetch_allow,
            validators=validators,
        )

    validators = Validators(known.etag, known.last_modified) if known else None
    answer = await get(validators)
    if isinstance(answer, NotModified):
        assert known is not None and validators is not None
        stored = await clients.store.get_if_exists(ORIGINALS_BUCKET, known.original_key)
        if stored is not None:
            found = Downloaded(stored, known.content_type, known.extension, url, validators)
            return found, True
        answer = await get(None)  # the original stored then is gone: download it again
    assert isinstance(answer, Downloaded)  # an unconditional request never answers 304
    return answer, False


async def record_failure(message: FetchRequested, reason: str, clients: Clients) -> None:
    """Tell the notifier this image failed, so its request can still complete."""
    failed = ImageFailed(message.request_id, message.image_id, reason)
    await clients.publisher.publish(FAILED_ROUTING_KEY, failed)
