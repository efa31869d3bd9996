"""What the gateway shows: the status views and the output CSV rows, from the records (pure)."""

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from ingest.csvfile import OutputRow
from shared import timeline
from shared.api import (
    Counts,
    ImageView,
    ProductView,
    QuotaView,
    RequestView,
    UsageView,
    VariantView,
    WebhookAttemptView,
)
from shared.quotas import BYTES_STORED, CONCURRENT, IMAGES_PER_DAY, Usage
from shared.records import ImageRecord, RequestRecord, RowRecord, TenantRecord
from shared.retention import output_expired, output_expired_message
from shared.status import ImageStatus

LinkFor = Callable[[str], str]
"""Turns a compressed object's key into a link the user can open."""


@dataclass(frozen=True)
class OutputsKept:
    """Compressed copies are kept `days` (RETAIN_COMPRESSED_DAYS; 0: forever), as of `now`."""

    now: datetime
    days: int = 0

    def expired(self, image: ImageRecord) -> bool:
        # A reused output is the object its first request made, and as old as that; others
        # are as old as their image's finish.
        done = image.status == ImageStatus.DONE
        made = image.made_at or image.finished_at
        return done and output_expired(made, self.now, self.days)


KEPT_FOREVER = OutputsKept(datetime.fromtimestamp(0, UTC))


def image_view(
    image: ImageRecord, link_for: LinkFor, kept: OutputsKept = KEPT_FOREVER
) -> ImageView:
    key = image.compressed_key
    expired = kept.expired(image)
    done = image.status == ImageStatus.DONE and not expired  # links only to what is kept
    variants = [
        VariantView(width=v.width, height=v.height, bytes=v.bytes, url=link_for(v.key))
        for v in (image.variants if done else ())
    ]
    output_url = link_for(key) if done and key else None
    return ImageView(
        input_url=image.url,
        status=image.status,
        output_url=output_url,
        output_expired=expired,
        error=image.error,
        bytes_in=image.bytes_in,
        bytes_out=image.bytes_out,
        format=image.format,
        quality=image.quality,
        score=image.score,
        score_whole=image.score_whole,
        kept_source=image.kept_source,
        width=image.width,
        height=image.height,
        frames=image.frames,
        revalidated=image.revalidated,
        reused=image.reused,
        variants=variants,
        srcset=srcset(variants, output_url, image.width),
        timeline={name: timeline.iso(ms) for name, ms in image.moments.items()},
        hops_ms=timeline.hops(image.moments),
    )


def srcset(
    variants: Sequence[VariantView], output_url: str | None, width: int | None
) -> str | None:
    """ "<url> 320w, <url> 640w, <output url> <its width>w"; None without variants."""
    if not variants or output_url is None or width is None:
        return None
    return ", ".join([*(f"{v.url} {v.width}w" for v in variants), f"{output_url} {width}w"])


def request_view(request: RequestRecord) -> RequestView:
    """The request's summary: status and counts."""
    return RequestView(
        request_id=request.id,
        status=request.status,
        error=request.error,
        filename=request.filename,
        quality=request.quality,
        format=request.format,
        effort=request.effort,
        max_bytes=request.max_bytes,
        max_width=request.sizes.max_width,
        max_height=request.sizes.max_height,
        widths=list(request.sizes.widths),
        metadata=request.metadata,
        animation=request.animation,
        created_at=request.created_at.isoformat(),
        completed_at=c.isoformat() if (c := request.completed_at) else None,
        expired_at=e.isoformat() if (e := request.expired_at) else None,
        counts=Counts(
            total=request.total,
            done=request.done,
            failed=request.failed,
            revalidated=request.revalidated,
            reused=request.reused,
        ),
        timeline={k: timeline.iso(ms) for k, ms in request.moments.items()},
        webhook_state=request.webhook_state,
        webhook_attempts=[
            WebhookAttemptView(
                ok=a.ok, status_code=a.status_code, error=a.error, at=a.at.isoformat()
            )
            for a in request.webhook_attempts
        ],
    )


def usage_view(usage: Usage, limits: TenantRecord) -> UsageView:
    """The tenant's usage next to its limits (null where it has none)."""
    return UsageView(
        requests_in_progress=QuotaView(used=usage.in_progress, limit=CONCURRENT.of(limits)),
        images_today=QuotaView(used=usage.images_today, limit=IMAGES_PER_DAY.of(limits)),
        bytes_stored=QuotaView(used=usage.bytes_stored, limit=BYTES_STORED.of(limits)),
    )


def product_view(
    row: RowRecord,
    images: Sequence[ImageRecord],
    link_for: LinkFor,
    kept: OutputsKept = KEPT_FOREVER,
) -> ProductView:
    return ProductView(
        row=row.index,
        serial=row.serial,
        product=row.product,
        images=[image_view(image, link_for, kept) for image in images],
    )


def output_row(
    row: RowRecord,
    images: Sequence[ImageRecord],
    link_for: LinkFor,
    kept: OutputsKept = KEPT_FOREVER,
) -> OutputRow:
    """One output CSV row: the input cells plus one output slot per input URL (an expired
    output's slot is empty and its Errors cell says why, as a failed image's does)."""
    views = [image_view(image, link_for, kept) for image in images]
    expired = output_expired_message(kept.days)
    return OutputRow(
        cells=row.cells,
        output_urls=[view.output_url for view in views],
        errors=[expired if view.output_expired else view.error for view in views],
        srcsets=[view.srcset for view in views],
    )


def etag(
    request: RequestRecord,
    offset: int,
    limit: int,
    usage: UsageView,
    kept: OutputsKept = KEPT_FOREVER,
) -> str:
    """Changes whenever the status page would: progress, final status, webhook outcome, the
    tenant's usage (its other requests move it too), and (with RETAIN_COMPRESSED_DAYS) each
    minute, as outputs expire without any write."""
    parts = (
        usage,
        request.updated_at or request.created_at,
        request.status.value,
        request.done,
        request.failed,
        request.webhook_state,
        len(request.webhook_attempts),
        offset,
        limit,
        kept.now.replace(second=0, microsecond=0) if kept.days else None,
    )
    digest = hashlib.sha256(repr(parts).encode()).hexdigest()[:20]
    return f'W/"{digest}"'
