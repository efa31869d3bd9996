"""Retention rules with fixed clocks: what has expired, and what the service says about it."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from shared.retention import (
    cutoff,
    is_expired,
    output_expired,
    output_expired_message,
    request_expired_message,
)

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def test_zero_days_keeps_forever() -> None:
    assert cutoff(NOW, 0) is None
    assert not is_expired(NOW - 10_000 * DAY, NOW, 0)
    assert not output_expired(NOW - 10_000 * DAY, NOW, 0)


def test_cutoff_is_days_before_now() -> None:
    assert cutoff(NOW, 30) == datetime(2026, 11, 3, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("age", "expired"),
    [
        (timedelta(0), False),
        (DAY - timedelta(seconds=1), False),
        (DAY, False),  # exactly the days kept: still kept
        (DAY + timedelta(microseconds=1), True),
        (2 * DAY, True),
    ],
)
def test_expired_once_more_than_the_days_have_passed(age: timedelta, expired: bool) -> None:
    assert is_expired(NOW - age, NOW, 1) is expired
    assert output_expired(NOW - age, NOW, 1) is expired


def test_something_made_later_than_now_is_kept() -> None:
    assert not is_expired(NOW + DAY, NOW, 1)  # another machine's clock ahead of ours


def test_an_image_without_an_output_has_none_to_expire() -> None:
    assert not output_expired(None, NOW, 1)


def test_request_message_names_the_day_the_rule_and_the_setting() -> None:
    at = datetime(2026, 12, 5, 23, 30, tzinfo=UTC)
    assert request_expired_message("ab" * 16, at, 30) == (
        f"request {'ab' * 16} expired on 2026-12-05: requests are kept 30 days "
        "(RETAIN_REQUESTS_DAYS)"
    )


def test_request_message_gives_the_day_in_utc() -> None:
    eastern = timezone(timedelta(hours=-5))
    at = datetime(2026, 12, 5, 21, 0, tzinfo=eastern)  # 02:00 UTC on the 6th
    assert "expired on 2026-12-06:" in request_expired_message("x", at, 1)


def test_messages_say_one_day_in_the_singular() -> None:
    assert "kept 1 day (RETAIN_REQUESTS_DAYS)" in request_expired_message("x", NOW, 1)
    assert output_expired_message(1) == (
        "output expired: compressed copies are kept 1 day (RETAIN_COMPRESSED_DAYS)"
    )
    assert "kept 7 days (RETAIN_COMPRESSED_DAYS)" in output_expired_message(7)
