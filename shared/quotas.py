"""Per-tenant quotas (issue 14): the limits, what counts against them, and which one a new
request breaks. Pure: limits, usage and the clock come in, a refusal (or none) comes out.

Set with `python -m ingest.keys limit`; the gateway checks them at upload (429, or 413 when a
CSV alone is over a limit), ingest again for every CSV, uploaded or dropped straight into the
inbox bucket (the request fails with the same message).
"""

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import cast

from shared.records import Output, TenantRecord

# What a 429 asks a client over its concurrency limit to wait: a short request's lifetime.
RETRY_AFTER_CONCURRENT_S = 5
# Stored bytes go down only when the tenant deletes requests (at once: it can retry then) or
# retention removes old ones (days later). An hour keeps an automatic retry from polling while
# nothing can have changed, yet follows a sweep that freed space within the hour.
RETRY_AFTER_STORED_S = 3600


@dataclass(frozen=True)
class Limit:
    """One of a tenant's limits: its TenantRecord field (named in messages) and its option."""

    name: str
    option: str  # `python -m ingest.keys limit`'s
    help: str

    def of(self, tenant: TenantRecord) -> int | None:
        return cast(int | None, getattr(tenant, self.name))


CONCURRENT = Limit(
    "max_concurrent",
    "--concurrent",
    "requests pending or processing at once; more uploads answer 429 (0: no limit)",
)
IMAGES_PER_DAY = Limit(
    "max_images_per_day",
    "--images-per-day",
    "images in the requests created in one UTC day; an upload beyond it answers 429 until "
    "midnight UTC (0: no limit)",
)
BYTES_STORED = Limit(
    "max_bytes_stored",
    "--bytes-stored",
    "bytes of originals, compressed copies and variants kept; at or over it uploads answer "
    "429 until requests are deleted or expire (0: no limit)",
)
LIMITS = (CONCURRENT, IMAGES_PER_DAY, BYTES_STORED)


@dataclass(frozen=True)
class Usage:
    """What counts against a tenant's limits now."""

    in_progress: int  # requests pending or processing (ingest: the others processing)
    images_today: int  # images of the requests accepted, created this UTC day
    bytes_stored: int  # what its requests stored and still keep


@dataclass(frozen=True)
class Refusal:
    limit: Limit
    message: str
    retry_after_s: int | None  # None: waiting cannot help (the CSV alone is over the limit)


def refusal(
    tenant: str, limits: TenantRecord, usage: Usage, images: int, moment: datetime
) -> Refusal | None:
    """The limit a new request of `images` images breaks, or None.

    When it breaks several, the one that keeps it out longest: retrying sooner would only
    meet that one.
    """
    broken: list[Refusal] = []
    concurrent = CONCURRENT.of(limits)
    if concurrent is not None and usage.in_progress >= concurrent:
        message = (
            f"tenant {tenant} has {concurrent} requests in progress, its limit "
            f"({CONCURRENT.name}); try again when one finishes"
        )
        broken.append(Refusal(CONCURRENT, message, RETRY_AFTER_CONCURRENT_S))
    per_day = IMAGES_PER_DAY.of(limits)
    if per_day is not None and images > per_day:
        message = (
            f"the CSV has {images} images, more than tenant {tenant} may have in a day "
            f"({per_day}, {IMAGES_PER_DAY.name}): split it"
        )
        broken.append(Refusal(IMAGES_PER_DAY, message, None))
    elif per_day is not None and usage.images_today + images > per_day:
        message = (
            f"tenant {tenant} has used {usage.images_today} of its {per_day} images today "
            f"({IMAGES_PER_DAY.name}): {images} more would exceed it; try again after "
            "midnight UTC"
        )
        broken.append(Refusal(IMAGES_PER_DAY, message, seconds_to_midnight(moment)))
    stored = BYTES_STORED.of(limits)
    if stored is not None and usage.bytes_stored >= stored:
        message = (
            f"tenant {tenant} stores {usage.bytes_stored} bytes, its limit is {stored} "
            f"({BYTES_STORED.name}): delete requests it no longer needs "
            "(DELETE /api/requests/{id}) or wait for retention to remove old ones"
        )
        broken.append(Refusal(BYTES_STORED, message, RETRY_AFTER_STORED_S))
    if not broken:
        return None
    return max(broken, key=lambda r: math.inf if r.retry_after_s is None else r.retry_after_s)


def stored_bytes(output: Output) -> int:
    """The bytes one finished image added to the store: its original unless it was an earlier
    one (revalidated), its output and variants unless they were an earlier output (reused)."""
    added = 0 if output.revalidated else output.bytes_in
    if not output.reused:
        added += output.bytes_out + sum(variant.bytes for variant in output.variants)
    return added


def day_of(moment: datetime) -> str:
    """The UTC day a request counts in, as "YYYY-MM-DD"."""
    return moment.astimezone(UTC).date().isoformat()


def seconds_to_midnight(moment: datetime) -> int:
    """Whole seconds until the next UTC midnight (at least 1): when today's count resets."""
    utc = moment.astimezone(UTC)
    midnight = datetime.combine(utc.date() + timedelta(days=1), datetime.min.time(), UTC)
    return max(1, math.ceil((midnight - utc).total_seconds()))
