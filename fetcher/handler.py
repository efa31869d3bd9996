"""fetcher: download one image URL and store the original in original-images.

A URL this tenant fetched before, whose origin gave an ETag or Last-Modified with its last
answer, is fetched conditionally. On a 304 nothing is downloaded: if the output made from that
original with these settings is still stored, it is the image's output (the notifier is told;
no original is written, no codec runs); else the original stored then is handed to the
compressor again (or, if it is gone too, the image is downloaded again).
"""

import logging
from datetime import UTC, datetime

from fetcher.download import Downloaded, NotModified, TransientFetchError, Validators, download
from shared import logs, reuse, timeline
from shared.errors import ImageError, RetryLater
from shared.events import FetchRequested, ImageFailed, ImageReused
from shared.metadata import OriginalMeta
from shared.names import FAILED_ROUTING_KEY, ORIGINALS_BUCKET, REUSED_ROUTING_KEY, image_key
from shared.records import SourceRecord
from shared.runtime import Clients

log = logging.getLogger(__name__)


async def handle(message: FetchRequested, clients: Clients) -> bool:
    """Fetch one image; True when an original was stored for the compressor."""
    started = timeline.now_ms()
    logs.bind(request_id=message.request_id, image_id=message.image_id, url=message.url)
    # A fetch expecting to reuse an output skips the pending check: a duplicate costs a
    # conditional request, and the notifier records an image's outcome once anyway.
    if message.known_result() is None and not await clients.db.images.is_pending(message.image_id):
        return False  # finished already: a duplicate, or work the reconciler re-issued meanwhile
    known = await known_source(message, clients)
    moments = {"fetch_started": started}
    if message.published_at:
        moments["published"] = message.published_at
    revalidated = False  # the stored original stands for the image (the origin said 304)
    try:
        answer: Downloaded | NotModified | None = await ask(message.url, known, clients)
        if isinstance(answer, NotModified):
            assert known is not None  # only a conditional request is answered 304
            moments["fetched"] = timeline.now_ms()
            if await reuse_output(message, known, moments, clients):
                return False  # unchanged, and its output is stored: nothing to download or compress
            answer = await stored_original(known, message.url, clients)
            revalidated = answer is not None
        if answer is None:  # the original stored then is gone: download it again
            answer = await ask(message.url, None, clients)
    except ImageError as exc:  # 404, not an image, too large, blocked address…
        log.warning("image failed: %s", exc)
        await record_failure(message, str(exc), clients)
        return False
    except TransientFetchError as exc:  # 5xx, 429, timeouts, resets: the broker retries
        raise RetryLater(str(exc), exc.retry_after) from exc
    assert isinstance(answer, Downloaded)  # an unconditional request never answers 304
    # The origin's validators travel with the original, to be recorded with the image once it
    # is done (the tenant's next fetch of this URL asks with them): no write of their own.
    validators = answer.validators
    moments["fetched"] = timeline.now_ms()
    meta = OriginalMeta.of_fetch(
        message, revalidated, moments, validators.etag, validators.last_modified
    )
    key = image_key(message.image_id, answer.extension)
    await clients.store.put(
        ORIGINALS_BUCKET, key, answer.data, answer.content_type, meta.to_metadata()
    )
    log.info("original stored: %d bytes of %s", len(answer.data), answer.content_type)
    return True


async def reuse_output(
    message: FetchRequested, known: SourceRecord, moments: dict[str, int], clients: Clients
) -> bool:
    """After a 304: record the image as its earlier output, if that is stored (shared/reuse.py).

    The source record holds the bytes' hash, so nothing is read but the result's record and
    its objects' existence; the notifier records the image as it does a compressed one.
    """
    if known.sha256 is None or known.bytes is None:
        return False  # recorded before hashes were: the compressor will hash it
    settings = clients.settings
    if message.looked_up:  # ingest looked it up with the rest of its window
        found = message.known_result()
    else:
        wanted = OriginalMeta.of_fetch(message, True, moments)
        found = await clients.db.results.get(
            reuse.result_id(message.tenant, known.sha256, wanted, settings.background)
        )
    now = datetime.now(UTC)
    if found is None or not reuse.reusable(
        found, known.sha256, known.bytes, now, settings.retain_compressed_days
    ):
        return False
    output = await reuse.stored_output(
        # No original of its own: the output stands without one (none is stored for it).
        found,
        None,
        clients.store,
        revalidated=True,
        moments=moments,
    )
    if output is None:
        return False
    reused = ImageReused.of(message.request_id, message.image_id, output, known, found.id)
    await clients.publisher.publish(REUSED_ROUTING_KEY, reused)
    log.info("unchanged (304): output %s reused", found.compressed_key)
    return True


async def known_source(message: FetchRequested, clients: Clients) -> SourceRecord | None:
    """What the tenant stored when it last downloaded this URL (ingest may have looked)."""
    if message.looked_up or not message.tenant:
        return message.known_source()
    return await clients.db.sources.get(message.tenant, message.url)


async def ask(url: str, known: SourceRecord | None, clients: Clients) -> Downloaded | NotModified:
    """The image, or NotModified when `known`'s validators still hold (a conditional GET)."""
    settings = clients.settings
    return await download(
        clients.http,
        url,
        max_bytes=settings.max_image_bytes,
        allow=settings.fetch_allow,
        validators=Validators(known.etag, known.last_modified) if known else None,
    )


async def stored_original(known: SourceRecord, url: str, clients: Clients) -> Downloaded | None:
    """The original stored when the URL was last downloaded, or None if it is gone."""
    stored = await clients.store.get_if_exists(ORIGINALS_BUCKET, known.original_key)
    if stored is None:
        return None
    validators = Validators(known.etag, known.last_modified)
    return Downloaded(stored, known.content_type, known.extension, url, validators)


async def record_failure(message: FetchRequested, reason: str, clients: Clients) -> None:
    """Tell the notifier this image failed, so its request can still complete."""
    failed = ImageFailed(message.request_id, message.image_id, reason)
    await clients.publisher.publish(FAILED_ROUTING_KEY, failed)
