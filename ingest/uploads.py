"""Upload checks and acceptance: what the gateway does with a CSV before the inbox takes over."""

import hashlib
from dataclasses import dataclass

from starlette.datastructures import FormData, UploadFile

from ingest.csvfile import CsvError, check_header, parse_rows
from shared.names import (
    DEFAULT_FORMAT,
    INBOX_BUCKET,
    META_FORMAT,
    META_QUALITY,
    META_REQUEST_ID,
    META_TENANT,
    META_WEBHOOK_URL,
    OUTPUT_FORMATS,
)
from shared.netguard import BlockedURL, check_host, check_url
from shared.runtime import Clients
from shared.settings import Settings, csv_limits

_HEADER_BYTES = 64 * 1024  # the header row must fit in the CSV's first 64 KiB


class UploadError(ValueError):
    """The upload cannot be accepted; the message says why."""

    def __init__(self, message: str, status_code: int = 400) -> None:
        super().__init__(message)
        self.status_code = status_code


@dataclass(frozen=True)
class Options:
    quality: int
    webhook_url: str | None
    format: str = DEFAULT_FORMAT


def parse_options(form: FormData, settings: Settings) -> Options:
    """Validate the optional form fields `quality` (1–95), `format` and `webhook_url`."""
    raw_quality = form.get("quality")
    quality = settings.default_quality
    if isinstance(raw_quality, str) and raw_quality.strip():
        try:
            quality = int(raw_quality)
        except ValueError:
            raise UploadError(
                f"quality must be a whole number from 1 to 95, got {raw_quality[:20]!r}"
            ) from None
        if not 1 <= quality <= 95:
            raise UploadError(f"quality must be from 1 to 95, got {quality}")
    raw_format = form.get("format")
    output_format = settings.default_format
    if isinstance(raw_format, str) and raw_format.strip():
        output_format = raw_format.strip().lower()
        if output_format not in OUTPUT_FORMATS:
            raise UploadError(
                f"format must be one of {', '.join(OUTPUT_FORMATS)}, got {raw_format[:20]!r}"
            )
    webhook = form.get("webhook_url")
    webhook_url = webhook.strip() if isinstance(webhook, str) and webhook.strip() else None
    if webhook_url is not None:
        if not webhook_url.isascii():
            raise UploadError("webhook_url must be ASCII (percent-encode other characters)")
        try:
            check_url(webhook_url, settings.fetch_allow)
        except BlockedURL as exc:
            raise UploadError(f"webhook_url: {exc}") from None
    return Options(quality, webhook_url, output_format)


async def read_capped(file: UploadFile, limit: int) -> bytes:
    """The whole file, or 413 as soon as it is known to exceed `limit` bytes."""
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise UploadError(f"the CSV is larger than the limit of {limit} bytes", 413)
    if not data.strip():
        raise UploadError("the CSV file is empty")
    return data


def check_csv(data: bytes, settings: Settings) -> None:
    """Reject a CSV that cannot be processed now, rather than after it is queued.

    Parses every row (then drops them): a bad row or a limit answers 400 naming the line.
    """
    check_header(data[:_HEADER_BYTES], whole_file=len(data) <= _HEADER_BYTES)
    _, rows = parse_rows(data, **csv_limits(settings))
    if not sum(len(row.urls) for row in rows):
        raise CsvError("the CSV lists no image URLs")


async def accept(
    clients: Clients, tenant: str, request_id: str, filename: str, data: bytes, options: Options
) -> None:
    """Record the request as pending, then hand the CSV to the inbox bucket.

    The request exists before its CSV does, so an immediate status query answers; the
    inbox event that follows finds it by the `request-id` metadata.
    """
    key = f"uploads/{request_id}.csv"
    await clients.db.open_request(
        request_id,
        {
            "tenant": tenant,
            "filename": filename,
            "quality": options.quality,
            "format": options.format,
            "webhook_url": options.webhook_url,
            "source": {"bucket": INBOX_BUCKET, "key": key},
        },
    )
    metadata = {
        META_REQUEST_ID: request_id,
        META_TENANT: tenant,
        META_QUALITY: str(options.quality),
        META_FORMAT: options.format,
    }
    if options.webhook_url:
        metadata[META_WEBHOOK_URL] = options.webhook_url
    await clients.store.put(INBOX_BUCKET, key, data, "text/csv", metadata)


def idempotency_key(raw: str | None) -> str | None:
    """The upload's Idempotency-Key header, checked: 1–255 visible ASCII characters."""
    if raw is None:
        return None
    key = raw.strip()
    if not key or len(key) > 255 or not key.isascii() or not key.isprintable():
        raise UploadError("Idempotency-Key must be 1 to 255 visible ASCII characters")
    return key


def fingerprint(data: bytes, options: Options) -> str:
    """What makes two uploads the same upload (a reused key must carry the same one)."""
    digest = hashlib.sha256(data)
    digest.update(f"\0{options.quality}\0{options.format}\0{options.webhook_url or ''}".encode())
    return digest.hexdigest()


async def check_webhook_host(options: Options, settings: Settings) -> None:
    """Refuse a webhook URL whose host resolves only to blocked addresses (e.g. localhost)."""
    if options.webhook_url is None:
        return
    try:
        await check_host(options.webhook_url, settings.fetch_allow)
    except BlockedURL as exc:
        raise UploadError(f"webhook_url: {exc}") from None
