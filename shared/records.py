"""What the service stores in MongoDB, as typed records: requests, rows, images, API keys.

Only shared/db/ turns documents into these records and back (msgspec checks every field's
type on the way in); everything else sees frozen objects. Field names are the documents'
own, so what an operator reads in the database is what the code calls it.
"""

import hashlib
from datetime import datetime
from enum import StrEnum

import msgspec

from shared.rules import (
    ANIMATION,
    EFFORT,
    FORMAT,
    METADATA,
    QUALITY,
    Animation,
    Effort,
    Format,
    MetadataMode,
    Quality,
)
from shared.status import ImageStatus, RequestStatus


class Record(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A stored record: frozen; fields at their default are not stored (a row without
    image URLs has no `urls`). Subclasses repeat frozen and kw_only: msgspec applies
    kw_only to a class's own fields, and mypy reads frozen per class."""


class Source(Record, frozen=True, kw_only=True):
    """Where a request's CSV is stored (the inbox bucket)."""

    bucket: str
    key: str
    etag: str | None = None  # the object version, for a CSV dropped straight into the bucket


class Sizes(Record, frozen=True, kw_only=True):
    """The sizes a request asks of each image (shared/rules.py: MAX_WIDTH, parse_widths)."""

    max_width: int | None = None  # the main output fits within these, never upscaled
    max_height: int | None = None
    widths: tuple[int, ...] = ()  # extra variants, rising; none wider than the main output

    def widths_text(self) -> str:
        """The widths as the form takes them: "320,640,1280" ("" for none)."""
        return ",".join(str(width) for width in self.widths)


class Options(Record, frozen=True, kw_only=True):
    """How a request's images are compressed and who hears when it ends."""

    quality: Quality  # a fixed number, or auto:<level> (shared/rules.py)
    format: Format
    webhook_url: str | None = None
    effort: Effort = EFFORT.default
    max_bytes: int | None = None  # a ceiling on each image's output
    sizes: Sizes = msgspec.field(default_factory=Sizes)
    metadata: MetadataMode = METADATA.default
    animation: Animation = ANIMATION.default


class WebhookState(StrEnum):
    DELIVERED = "delivered"
    FAILED = "failed"  # given up: retries used up, or the address is refused


class WebhookAttempt(Record, frozen=True, kw_only=True):
    ok: bool
    status_code: int | None = None
    error: str | None = None
    at: datetime


class RequestRecord(Record, frozen=True, kw_only=True, omit_defaults=False):
    """One uploaded (or dropped) CSV and everything known about its progress.

    Stored with every field (one document per request): counts read 0 from the start."""

    id: str = msgspec.field(name="_id")
    tenant: str
    status: RequestStatus
    # Defaults for documents written before these fields were (formats came later: all JPEG).
    filename: str = ""
    quality: Quality = QUALITY.default
    format: Format = FORMAT.default
    webhook_url: str | None = None
    effort: Effort = EFFORT.default
    max_bytes: int | None = None
    sizes: Sizes = msgspec.field(default_factory=Sizes)
    metadata: MetadataMode = METADATA.default
    animation: Animation = ANIMATION.default
    source: Source | None = None
    error: str | None = None  # why a failed request failed
    header: tuple[str, ...] = ()  # the CSV's header row, for the output CSV
    total: int = 0  # images
    rows: int = 0  # data rows (0 on documents written before it was recorded)
    done: int = 0
    failed: int = 0
    revalidated: int = 0  # images whose original the origin confirmed (304)
    reused: int = 0  # images whose output was an earlier one (the same stored object)
    # Bytes its images added to the store (shared/quotas.py stored_bytes): the tenant's usage.
    bytes_stored: int = 0
    # Its images are in the tenant's count of the day it was created (ingest, once).
    images_counted: bool = False
    created_at: datetime
    updated_at: datetime | None = None
    progress_at: datetime | None = None  # the last image finished (the reconciler's clock)
    completed_at: datetime | None = None
    # Fan-out (ingest): who last claimed it, whether it finished, the request's bulk lane.
    fanout_claimed_at: datetime | None = None
    fanned_out: bool = False
    fetch_lane: int | None = None
    moments: dict[str, int] = {}  # shared/timeline.py: csv_stored, ingest_started, fanned_out
    webhook_state: WebhookState | None = None
    webhook_attempts: tuple[WebhookAttempt, ...] = ()
    # A tombstone's (status expired): when it expired, and the RETAIN_REQUESTS_DAYS then.
    expired_at: datetime | None = None
    kept_days: int | None = None


class RowRecord(Record, frozen=True, kw_only=True):
    """One data row of a request's CSV, kept for the status and the output CSV."""

    id: str = msgspec.field(name="_id")  # "<request>:<index>"
    request_id: str
    index: int
    serial: str
    product: str
    cells: tuple[str, ...]
    # Its image URLs, a slot each. A row stored before rows kept them has none: each of its
    # images has a document of its own from the start (shared/db/images.py).
    urls: tuple[str, ...] = ()


class StoredVariant(Record, frozen=True, kw_only=True):
    """A smaller copy of an image's output (shared/names.py variant_key)."""

    key: str
    width: int
    height: int
    bytes: int


class Output(Record, frozen=True, kw_only=True, omit_defaults=False):
    """What the compressor wrote for one image (recorded when the notifier hears of it).

    Stored with every field, defaults too: a done image always shows its output's shape."""

    compressed_key: str
    # The original this request stored; None when it stored none (a re-run's unchanged image,
    # whose earlier output stands for it).
    original_key: str | None = None
    bytes_in: int
    bytes_out: int
    format: Format | None = None  # None on objects written before formats were recorded
    quality: int | None = None
    kept_source: bool = False
    # SSIMULACRA2 the compressor's search measured (quality=auto), on the whole image or on
    # its tile sample (`score_whole`).
    score: float | None = None
    score_whole: bool | None = None
    width: int | None = None
    height: int | None = None
    frames: int | None = None  # an animation's (animation=keep)
    variants: tuple[StoredVariant, ...] = ()  # rising widths (a request's `widths`)
    revalidated: bool = False  # the origin answered 304: the stored original was reused
    reused: bool = False  # an earlier output of the same source and settings: no codec
    # When the compressed copy was written: a reused one's is its first request's (it is the
    # same object), so retention counts from then. None on images recorded before this was.
    made_at: datetime | None = None
    moments: dict[str, int] = {}  # shared/timeline.py: the image's steps


class ImageRecord(Record, frozen=True, kw_only=True):
    """One URL slot of a row: the image's status and, once it finished, its outcome (stored
    then, as its document; a pending image is its row's URL, shared/db/images.py)."""

    id: str = msgspec.field(name="_id")  # "<request>.<row>.<slot>"
    request_id: str
    row: int
    slot: int
    url: str
    status: ImageStatus
    error: str | None = None  # why a failed image failed
    # The Output fields, flattened into the image's document when it is done.
    compressed_key: str | None = None
    original_key: str | None = None
    bytes_in: int | None = None
    bytes_out: int | None = None
    format: Format | None = None
    quality: int | None = None
    kept_source: bool | None = None
    score: float | None = None
    score_whole: bool | None = None
    width: int | None = None
    height: int | None = None
    frames: int | None = None
    variants: tuple[StoredVariant, ...] = ()
    revalidated: bool | None = None
    reused: bool | None = None
    made_at: datetime | None = None
    moments: dict[str, int] = {}
    finished_at: datetime | None = None


class SourceRecord(Record, frozen=True, kw_only=True):
    """What a tenant's image was made from: the original downloaded from its URL and the
    origin's validators for it, recorded with the image's outcome (shared/db/sources.py); the
    next fetch of the URL asks whether it changed (issue 14). Never shared between tenants."""

    id: str = msgspec.field(name="_id")  # source_id(tenant, url)
    tenant: str
    etag: str | None = None
    last_modified: str | None = None
    original_key: str  # in original-images
    content_type: str
    extension: str
    # The original's SHA-256 and length: after a 304 they find its earlier output (shared/reuse.py)
    # without reading it. None on sources recorded before they were.
    sha256: str | None = None
    bytes: int | None = None
    stored_at: datetime


class ResultRecord(Record, frozen=True, kw_only=True):
    """A compressed output stored for one tenant, by what it was made from and how (the
    source bytes' SHA-256 and the output settings): the same again reuses it (issue 14). Read
    from the image that made it or reused it last (shared/db/results.py)."""

    id: str = msgspec.field(name="_id")  # shared/reuse.py result_id()
    tenant: str
    source_sha256: str
    source_bytes: int
    compressed_key: str  # in compressed-images
    variants: tuple[StoredVariant, ...] = ()
    format: Format | None = None  # None on images recorded before formats were
    quality: int | None = None
    kept_source: bool = False
    score: float | None = None
    score_whole: bool | None = None
    width: int | None = None
    height: int | None = None
    frames: int | None = None
    stored_at: datetime  # when the output was made (a reused one's: its first image's)


def source_id(tenant: str, url: str) -> str:
    return hashlib.sha256(f"{tenant}\0{url}".encode()).hexdigest()[:32]


class TenantRecord(Record, frozen=True, kw_only=True):
    """A tenant's limits, set with `python -m ingest.keys limit` (none: no limit)."""

    id: str = msgspec.field(name="_id")  # the tenant
    max_concurrent: int | None = None  # requests pending or processing at once
    max_images_per_day: int | None = None  # images in the requests created in one UTC day
    max_bytes_stored: int | None = None  # bytes its requests' objects keep in the store


class ApiKeyRecord(Record, frozen=True, kw_only=True):
    """An API key, stored only as its SHA-256 (ingest/auth.py)."""

    id: str = msgspec.field(name="_id")  # the key's hash
    name: str
    tenant: str
    created_at: datetime
    revoked_at: datetime | None = None


class IdempotencyClaim(Record, frozen=True, kw_only=True):
    """An upload's Idempotency-Key, bound to the request it created."""

    id: str = msgspec.field(name="_id")  # "<tenant>:<key>"
    request_id: str
    fingerprint: str  # what the upload was (ingest/uploads.py): a reuse must match it
    created_at: datetime


def image_id(request_id: str, row: int, slot: int) -> str:
    return f"{request_id}.{row}.{slot}"


def image_place(image_id: str) -> tuple[str, int, int]:
    """(request, row, slot) of an image id; ValueError if it is not one."""
    request_id, row, slot = image_id.rsplit(".", 2)
    return request_id, int(row), int(slot)


def row_id(request_id: str, index: int) -> str:
    return f"{request_id}:{index}"
