"""The quota rules (shared/quotas.py): which limit a new request breaks, the Retry-After, and
what a finished image adds to the store. Fixed clocks, no servers."""

from datetime import UTC, datetime, timedelta, timezone

import msgspec
import pytest

from shared import quotas
from shared.quotas import (
    BYTES_STORED,
    CONCURRENT,
    IMAGES_PER_DAY,
    LIMITS,
    Limit,
    Usage,
    refusal,
)
from shared.records import Output, StoredVariant, TenantRecord

NOW = datetime(2026, 12, 3, 22, 30, 15, 250_000, tzinfo=UTC)  # 1 h 29 min 44.75 s to midnight
IDLE = Usage(in_progress=0, images_today=0, bytes_stored=0)


def limits(**given: int) -> TenantRecord:
    return TenantRecord(id="acme", **given)


def test_no_limits_refuse_nothing() -> None:
    busy = Usage(in_progress=100, images_today=10**6, bytes_stored=10**12)
    assert refusal("acme", limits(), busy, 10**5, NOW) is None


def test_every_limit_is_a_tenant_record_field() -> None:
    fields = set(TenantRecord.__struct_fields__)
    assert {limit.name for limit in LIMITS} <= fields
    assert IMAGES_PER_DAY.of(limits(max_images_per_day=7)) == 7
    assert BYTES_STORED.of(limits()) is None


def test_concurrency_counts_requests_in_progress() -> None:
    assert refusal("acme", limits(max_concurrent=2), Usage(1, 0, 0), 1, NOW) is None
    refused = refusal("acme", limits(max_concurrent=2), Usage(2, 0, 0), 1, NOW)
    assert refused is not None
    assert refused.limit is CONCURRENT
    assert refused.retry_after_s == 5
    assert refused.message == (
        "tenant acme has 2 requests in progress, its limit (max_concurrent); "
        "try again when one finishes"
    )


@pytest.mark.parametrize(("used", "images"), [(0, 10), (6, 4), (9, 1)])
def test_images_up_to_the_day_limit_are_accepted(used: int, images: int) -> None:
    usage = Usage(0, used, 0)
    assert refusal("acme", limits(max_images_per_day=10), usage, images, NOW) is None


@pytest.mark.parametrize(("used", "images"), [(10, 1), (6, 5), (12, 3)])
def test_images_over_the_day_limit_wait_for_midnight(used: int, images: int) -> None:
    refused = refusal("acme", limits(max_images_per_day=10), Usage(0, used, 0), images, NOW)
    assert refused is not None
    assert refused.limit is IMAGES_PER_DAY
    assert refused.retry_after_s == 5385  # 1:29:44.75 rounded up
    assert refused.message == (
        f"tenant acme has used {used} of its 10 images today (max_images_per_day): "
        f"{images} more would exceed it; try again after midnight UTC"
    )


def test_a_csv_over_the_day_limit_on_its_own_cannot_wait() -> None:
    refused = refusal("acme", limits(max_images_per_day=10), IDLE, 11, NOW)
    assert refused is not None
    assert refused.retry_after_s is None
    assert refused.message == (
        "the CSV has 11 images, more than tenant acme may have in a day "
        "(10, max_images_per_day): split it"
    )


def test_bytes_stored_at_the_limit_refuse() -> None:
    assert refusal("acme", limits(max_bytes_stored=1000), Usage(0, 0, 999), 50, NOW) is None
    refused = refusal("acme", limits(max_bytes_stored=1000), Usage(0, 0, 1000), 1, NOW)
    assert refused is not None
    assert refused.limit is BYTES_STORED
    assert refused.retry_after_s == quotas.RETRY_AFTER_STORED_S == 3600
    assert refused.message == (
        "tenant acme stores 1000 bytes, its limit is 1000 (max_bytes_stored): delete requests "
        "it no longer needs (DELETE /api/requests/{id}) or wait for retention to remove old ones"
    )


def test_of_several_limits_broken_the_longest_wait_is_named() -> None:
    every = limits(max_concurrent=1, max_images_per_day=10, max_bytes_stored=100)
    full = Usage(in_progress=1, images_today=10, bytes_stored=100)

    def named(usage: Usage, images: int, moment: datetime) -> Limit | None:
        refused = refusal("acme", every, usage, images, moment)
        return None if refused is None else refused.limit

    assert named(full, 1, NOW) is IMAGES_PER_DAY  # 1 h 30 min to midnight
    early = NOW.replace(hour=23, minute=30)  # midnight in 30 min: the bytes wait longer
    assert named(full, 1, early) is BYTES_STORED
    alone = refusal("acme", every, full, 11, NOW)  # no wait helps: that one is named
    assert alone is not None and alone.limit is IMAGES_PER_DAY and alone.retry_after_s is None
    assert named(Usage(in_progress=1, images_today=0, bytes_stored=0), 1, NOW) is CONCURRENT


@pytest.mark.parametrize(
    ("moment", "seconds"),
    [
        (datetime(2026, 12, 3, 0, 0, tzinfo=UTC), 86400),
        (datetime(2026, 12, 3, 23, 59, 59, tzinfo=UTC), 1),
        (datetime(2026, 12, 3, 23, 59, 59, 999_000, tzinfo=UTC), 1),  # never 0
        (datetime(2026, 12, 31, 12, 0, tzinfo=UTC), 43200),  # into the next year
        # 01:00 in UTC+2 is 23:00 UTC the day before: an hour to go
        (datetime(2026, 12, 4, 1, 0, tzinfo=timezone(timedelta(hours=2))), 3600),
    ],
)
def test_seconds_to_the_next_utc_midnight(moment: datetime, seconds: int) -> None:
    assert quotas.seconds_to_midnight(moment) == seconds


def test_the_day_is_the_utc_day() -> None:
    assert quotas.day_of(NOW) == "2026-12-03"
    assert quotas.day_of(datetime(2026, 12, 4, 1, 0, tzinfo=timezone(timedelta(hours=2)))) == (
        "2026-12-03"
    )


OUTPUT = Output(
    compressed_key="r/0-0.jpg",
    bytes_in=1000,
    bytes_out=300,
    variants=(
        StoredVariant(key="r/0-0-320w.jpg", width=320, height=200, bytes=40),
        StoredVariant(key="r/0-0-640w.jpg", width=640, height=400, bytes=90),
    ),
)


@pytest.mark.parametrize(
    ("revalidated", "reused", "added"),
    [
        (False, False, 1000 + 300 + 40 + 90),  # everything new
        (True, False, 300 + 40 + 90),  # the original is an earlier request's
        (False, True, 1000),  # the output and variants are an earlier output
        (True, True, 0),  # nothing new at all
    ],
)
def test_stored_bytes_count_only_new_objects(revalidated: bool, reused: bool, added: int) -> None:
    output = msgspec.structs.replace(OUTPUT, revalidated=revalidated, reused=reused)
    assert quotas.stored_bytes(output) == added
