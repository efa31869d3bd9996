"""The HTTP API's bodies, as typed views: what the gateway answers and the CLI reads.

The gateway encodes these (ingest/report.py builds them from the records), the command line
client decodes them (cli/), and the OpenAPI document's schemas are generated from them
(ingest/openapi.py): one definition for all three. Docstrings and `Meta` descriptions become
the document's descriptions.
"""

from typing import Annotated

import msgspec

from shared.records import WebhookState
from shared.rules import Animation, Effort, Format, MetadataMode, Quality
from shared.status import ImageStatus, RequestStatus

# Times are ISO 8601 strings with their UTC offset.
Timestamp = Annotated[str, msgspec.Meta(extra_json_schema={"format": "date-time"})]


class View(msgspec.Struct, frozen=True, kw_only=True):
    """An API body: every field is always present (null where unknown)."""


class VariantView(View, frozen=True, kw_only=True):
    """A smaller copy of an image's output (a request's `widths`): same format and quality."""

    width: int
    height: int
    bytes: int
    url: Annotated[str, msgspec.Meta(description="A presigned link to the variant.")]


class ImageView(View, frozen=True, kw_only=True):
    """One input URL's image."""

    input_url: str
    status: ImageStatus
    output_url: Annotated[
        str | None, msgspec.Meta(description="A presigned link to the compressed image.")
    ]
    output_expired: Annotated[
        bool,
        msgspec.Meta(
            description="The compressed image and its variants outlived "
            "RETAIN_COMPRESSED_DAYS (counted from when the image finished) and are deleted: "
            "no links, and the output CSV's Errors column says so."
        ),
    ]
    error: Annotated[str | None, msgspec.Meta(description="Why the image failed.")]
    bytes_in: int | None
    bytes_out: int | None
    format: Format | None
    quality: Annotated[int | None, msgspec.Meta(description="The quality encoded with.")]
    score: Annotated[
        float | None,
        msgspec.Meta(
            description="SSIMULACRA2 of the output against the prepared source, as the "
            "compressor measured it for quality=auto (null for a fixed quality): on the whole "
            "image, or (score_whole false) on a sample of its tiles, with a safety margin "
            "above the level."
        ),
    ]
    score_whole: bool | None
    kept_source: Annotated[
        bool | None,
        msgspec.Meta(
            description="The output is the source JPEG without its metadata: re-encoding "
            "would not have made it smaller."
        ),
    ]
    width: Annotated[int | None, msgspec.Meta(description="The output's width in pixels.")]
    height: int | None
    frames: Annotated[
        int | None, msgspec.Meta(description="An animated output's frames (animation=keep).")
    ]
    revalidated: Annotated[
        bool | None,
        msgspec.Meta(
            description="The origin answered 304 Not Modified to the fetcher's conditional "
            "request (ETag / Last-Modified of an earlier request of yours): the original "
            "stored then was used, not downloaded again."
        ),
    ]
    reused: Annotated[
        bool | None,
        msgspec.Meta(
            description="An earlier output of yours from the same source bytes (SHA-256) "
            "with the same settings is this image's output (its links are that output's "
            "objects): no codec work."
        ),
    ]
    variants: Annotated[
        list[VariantView],
        msgspec.Meta(description="The variants asked for with `widths`, narrowest first."),
    ]
    srcset: Annotated[
        str | None,
        msgspec.Meta(
            description="An HTML srcset of the variants and the output (`<url> <width>w`, "
            "comma-separated); null without variants."
        ),
    ]
    timeline: Annotated[
        dict[str, Timestamp],
        msgspec.Meta(
            description="When each step happened (ISO 8601, ms): published, fetch_started, "
            "fetched, original_stored, compress_started, compressed, compressed_stored, "
            "notify_started. *_stored are the object store's clock."
        ),
    ]
    hops_ms: Annotated[
        dict[str, int],
        msgspec.Meta(
            description="Milliseconds between those steps: to_fetcher, downloading, "
            "storing_original, to_compressor, compressing, storing_compressed, to_notifier."
        ),
    ]


class ProductView(View, frozen=True, kw_only=True):
    """One CSV row and its images, in input URL order."""

    row: Annotated[int, msgspec.Meta(description="0-based among the CSV's data rows.")]
    serial: str
    product: str
    images: list[ImageView]


class Counts(View, frozen=True, kw_only=True):
    total: int
    done: int
    failed: int
    revalidated: Annotated[
        int, msgspec.Meta(description="Images whose original the origin confirmed (304).")
    ]
    reused: Annotated[int, msgspec.Meta(description="Images whose output was reused.")]


class WebhookAttemptView(View, frozen=True, kw_only=True):
    ok: bool
    status_code: int | None
    error: str | None
    at: Timestamp


class RequestView(View, frozen=True, kw_only=True):
    """A request's summary: settings, status and counts."""

    request_id: str
    status: RequestStatus
    error: Annotated[str | None, msgspec.Meta(description="Why a failed request failed.")]
    filename: str
    quality: Annotated[
        Quality, msgspec.Meta(description="A fixed number, or auto:<level> (perceptual).")
    ]
    format: Format
    effort: Effort
    max_bytes: Annotated[
        int | None, msgspec.Meta(description="The ceiling on each image's output size.")
    ]
    max_width: int | None
    max_height: int | None
    widths: Annotated[list[int], msgspec.Meta(description="The variants' widths asked for.")]
    metadata: Annotated[
        MetadataMode, msgspec.Meta(description="What metadata each output carries.")
    ]
    animation: Animation
    created_at: Timestamp
    completed_at: Timestamp | None
    expired_at: Annotated[
        Timestamp | None,
        msgspec.Meta(
            description="When the request expired (status expired, kept RETAIN_REQUESTS_DAYS "
            "after it finished): only its summary is left, and its own routes answer 410."
        ),
    ]
    counts: Counts
    timeline: Annotated[
        dict[str, Timestamp],
        msgspec.Meta(description="csv_stored, ingest_started and fanned_out (ISO 8601, ms)."),
    ]
    webhook_state: WebhookState | None
    webhook_attempts: list[WebhookAttemptView]


class QuotaView(View, frozen=True, kw_only=True):
    used: int
    limit: Annotated[int | None, msgspec.Meta(description="The tenant's limit; null: no limit.")]


class UsageView(View, frozen=True, kw_only=True):
    """Your tenant's usage next to its limits (`python -m ingest.keys limit`): an upload that
    would go over one answers 429 (413 when the CSV alone is over the images a day)."""

    requests_in_progress: Annotated[
        QuotaView,
        msgspec.Meta(description="Requests pending or processing (limit max_concurrent)."),
    ]
    images_today: Annotated[
        QuotaView,
        msgspec.Meta(
            description="Images of the requests created this UTC day and accepted (limit "
            "max_images_per_day); deleting a request does not give them back."
        ),
    ]
    bytes_stored: Annotated[
        QuotaView,
        msgspec.Meta(
            description="Bytes of the originals, compressed copies and variants your requests "
            "stored and still keep; an original revalidated or an output reused is an earlier "
            "one, not counted again (limit max_bytes_stored)."
        ),
    ]


class ProductsPage(View, frozen=True, kw_only=True):
    offset: int
    limit: int
    next_offset: Annotated[int | None, msgspec.Meta(description="null on the last page.")]


class StatusView(RequestView, frozen=True, kw_only=True):
    """A request with one page of its products."""

    products: list[ProductView]
    products_page: ProductsPage
    usage: UsageView


class RequestList(View, frozen=True, kw_only=True):
    """The caller's requests, newest first."""

    requests: list[RequestView]
    next_before: Annotated[
        Timestamp | None,
        msgspec.Meta(description="`before` for the next page; null on the last page."),
    ]
    usage: UsageView


class Accepted(View, frozen=True, kw_only=True):
    """The upload is accepted; processing goes on asynchronously."""

    request_id: str
    status: Annotated[
        RequestStatus,
        msgspec.Meta(description="pending, or the earlier request's status on a replay."),
    ]


class ErrorBody(View, frozen=True, kw_only=True):
    """An error; `error` says why."""

    error: str
