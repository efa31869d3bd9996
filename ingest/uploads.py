"""Upload checks and acceptance: what the gateway does with a CSV before the inbox takes over.

The CSV arrives spooled to a temporary file by Starlette's multipart parser (in memory up to
1 MB, then on disk); it is read from there in chunks, so memory stays flat for any size.
"""

import hashlib
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, BinaryIO

import msgspec
from starlette.datastructures import FormData

from ingest.csvfile import CsvError, check_header, parse_rows
from ingest.options import FIELDS, parse_options
from shared.metadata import CsvMeta
from shared.names import INBOX_BUCKET
from shared.netguard import BlockedURL, check_host
from shared.records import Options, RequestRecord, Source
from shared.rules import RuleError, check_idempotency_key
from shared.runtime import Clients
from shared.settings import Settings, csv_limits
from shared.status import RequestStatus

if TYPE_CHECKING:
    from hashlib import _Hash

_HEADER_BYTES = 64 * 1024  # the header row must fit in the CSV's first 64 KiB
_CHUNK = 64 * 1024  # read from the spooled file this much at a time


class UploadError(ValueError):
    """The upload cannot be accepted; the message says why."""

    def __init__(self, message: str, status_code: int = 400) -> None:
        super().__init__(message)
        self.status_code = status_code


class TooLarge(UploadError):
    """The CSV is over MAX_CSV_BYTES."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the CSV is larger than the limit of {limit} bytes", 413)


# Every option, and a few fields of a client's own that are ignored (the file is apart).
MAX_FORM_FIELDS = len(FIELDS) + 5
# What a body holds besides its CSV, at most: each field is one of Starlette's parts of at
# most 1 MiB (its max_part_size), with a boundary and headers of a few kB.
_OTHER_PARTS_BYTES = (MAX_FORM_FIELDS + 1) * (1024 + 64) * 1024


def body_limit(settings: Settings) -> int:
    """The longest upload body that can hold a CSV within MAX_CSV_BYTES."""
    return settings.max_csv_bytes + _OTHER_PARTS_BYTES


def form_options(form: FormData, settings: Settings) -> Options:
    """Validate the optional form fields (ingest/options.py FIELDS)."""
    given = {name: value for name in FIELDS if isinstance(value := form.get(name), str)}
    try:
        return parse_options(given, settings)
    except RuleError as exc:
        raise UploadError(str(exc)) from None


@dataclass(frozen=True)
class CheckedCsv:
    """What the check of an uploaded CSV found, in its one pass over the rows."""

    size: int  # bytes
    images: int  # image URLs it lists, for the tenant's images per day
    sha256: "_Hash"  # of its bytes: the start of its fingerprint


def check_csv(file: BinaryIO, settings: Settings) -> CheckedCsv:
    """Reject a CSV that cannot be processed now, rather than after it is queued.

    Parses every row (then drops them): over MAX_CSV_BYTES answers 413, a bad row or a limit
    400 naming the line. Reads `file` from its start in chunks; synchronous and CPU-bound,
    so the gateway runs it in a worker thread.
    """
    size = file.seek(0, io.SEEK_END)
    if size > settings.max_csv_bytes:
        raise TooLarge(settings.max_csv_bytes)
    if not any(chunk.strip() for chunk in _chunks(file)):
        raise UploadError("the CSV file is empty")
    file.seek(0)
    check_header(file.read(_HEADER_BYTES), whole_file=size <= _HEADER_BYTES)
    digest = hashlib.sha256()
    _, rows = parse_rows(_hashed(_chunks(file), digest), **csv_limits(settings))
    images = sum(len(row.urls) for row in rows)  # every row read: every chunk hashed
    if not images:
        raise CsvError("the CSV lists no image URLs")
    return CheckedCsv(size, images, digest)


def _chunks(file: BinaryIO) -> Iterator[bytes]:
    file.seek(0)
    yield from iter(partial(file.read, _CHUNK), b"")


def _hashed(chunks: Iterable[bytes], digest: "_Hash") -> Iterator[bytes]:
    for chunk in chunks:
        digest.update(chunk)
        yield chunk


async def accept(
    clients: Clients,
    tenant: str,
    request_id: str,
    filename: str,
    file: BinaryIO,
    csv: CheckedCsv,
    options: Options,
) -> None:
    """Record the request as pending, then stream the checked CSV to the inbox bucket.

    The request exists before its CSV does, so an immediate status query answers; the
    inbox event that follows finds it by the `request-id` metadata.
    """
    source = Source(bucket=INBOX_BUCKET, key=f"uploads/{request_id}.csv")
    await clients.db.requests.open(request_id, tenant, filename, options, source)
    await _store(clients, tenant, request_id, source, file, csv, options)


async def resume(
    clients: Clients, earlier: RequestRecord, file: BinaryIO, csv: CheckedCsv, options: Options
) -> bool:
    """Store the CSV of an accepted upload whose request still waits for it: its gateway died,
    or the store failed, between recording the request and storing the CSV, and this is the
    retry with the same Idempotency-Key (so the same CSV and options). True if it did."""
    source = earlier.source
    if earlier.status != RequestStatus.PENDING or source is None:
        return False
    if await clients.store.describe(source.bucket, source.key) is not None:
        return False  # stored: ingest has it, or will
    await _store(clients, earlier.tenant, earlier.id, source, file, csv, options)
    return True


async def _store(
    clients: Clients,
    tenant: str,
    request_id: str,
    source: Source,
    file: BinaryIO,
    csv: CheckedCsv,
    options: Options,
) -> None:
    meta = CsvMeta.of(request_id, tenant, options)
    file.seek(0)
    await clients.store.put_file(
        source.bucket, source.key, file, csv.size, "text/csv", meta.to_metadata()
    )


def idempotency_key(raw: str | None) -> str | None:
    """The upload's Idempotency-Key header, checked (shared/rules.py)."""
    if raw is None:
        return None
    try:
        return check_idempotency_key(raw)
    except RuleError as exc:
        raise UploadError(str(exc)) from None


def fingerprint(csv: CheckedCsv, options: Options) -> str:
    """What makes two uploads the same upload (a reused key must carry the same one): the
    SHA-256 of the CSV's bytes followed by its options."""
    digest = csv.sha256.copy()
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
