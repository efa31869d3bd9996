"""Upload checks and acceptance: what the gateway does with a CSV before the inbox takes over."""

import hashlib

import msgspec
from starlette.datastructures import FormData, UploadFile

from ingest.csvfile import CsvError, check_header, parse_rows
from ingest.options import FIELDS, parse_options
from shared.metadata import CsvMeta
from shared.names import INBOX_BUCKET
from shared.netguard import BlockedURL, check_host
from shared.records import Options, Source
from shared.rules import RuleError, check_idempotency_key
from shared.runtime import Clients
from shared.settings import Settings, csv_limits

_HEADER_BYTES = 64 * 1024  # the header row must fit in the CSV's first 64 KiB


class UploadError(ValueError):
    """The upload cannot be accepted; the message says why."""

    def __init__(self, message: str, status_code: int = 400) -> None:
        super().__init__(message)
        self.status_code = status_code


# Every option, and a few fields of a client's own that are ignored (the file is apart).
MAX_FORM_FIELDS = len(FIELDS) + 5


def form_options(form: FormData, settings: Settings) -> Options:
    """Validate the optional form fields (ingest/options.py FIELDS)."""
    given = {name: value for name in FIELDS if isinstance(value := form.get(name), str)}
    try:
        return parse_options(given, settings)
    except RuleError as exc:
        raise UploadError(str(exc)) from None


async def read_capped(file: UploadFile, limit: int) -> bytes:
    """The whole file, or 413 as soon as it is known to exceed `limit` bytes."""
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise UploadError(f"the CSV is larger than the limit of {limit} bytes", 413)
    if not data.strip():
        raise UploadError("the CSV file is empty")
    return data


def check_csv(data: bytes, settings: Settings) -> int:
    """Reject a CSV that cannot be processed now, rather than after it is queued; returns how
    many images it lists (for the tenant's images per day).

    Parses every row (then drops them): a bad row or a limit answers 400 naming the line.
    """
    check_header(data[:_HEADER_BYTES], whole_file=len(data) <= _HEADER_BYTES)
    _, rows = parse_rows(data, **csv_limits(settings))
    images = sum(len(row.urls) for row in rows)
    if not images:
        raise CsvError("the CSV lists no image URLs")
    return images


async def accept(
    clients: Clients, tenant: str, request_id: str, filename: str, data: bytes, options: Options
) -> None:
    """Record the request as pending, then hand the CSV to the inbox bucket.

    The request exists before its CSV does, so an immediate status query answers; the
    inbox event that follows finds it by the `request-id` metadata.
    """
    key = f"uploads/{request_id}.csv"
    source = Source(bucket=INBOX_BUCKET, key=key)
    await clients.db.requests.open(request_id, tenant, filename, options, source)
    meta = CsvMeta.of(request_id, tenant, options)
    await clients.store.put(INBOX_BUCKET, key, data, "text/csv", meta.to_metadata())


def idempotency_key(raw: str | None) -> str | None:
    """The upload's Idempotency-Key header, checked (shared/rules.py)."""
    if raw is None:
        return None
    try:
        return check_idempotency_key(raw)
    except RuleError as exc:
        raise UploadError(str(exc)) from None


def fingerprint(data: bytes, options: Options) -> str:
    """What makes two uploads the same upload (a reused key must carry the same one)."""
    digest = hashlib.sha256(data)
    digest.update(msgspec.json.encode(options))
    return digest.hexdigest()


async def check_webhook_host(options: Options, settings: Settings) -> None:
    """Refuse a webhook URL whose host resolves only to blocked addresses (e.g. localhost)."""
    if options.webhook_url is None:
        return
    try:
        await check_host(options.webhook_url, settings.fetch_allow)
    except BlockedURL as exc:
        raise UploadError(f"webhook_url: {exc}") from None
