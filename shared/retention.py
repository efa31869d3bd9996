"""Retention (issue 14): what has outlived the days it is kept, from its own time (pure).

The days are the RETAIN_*_DAYS settings, 0 keeping forever. Something made (or finished) at
`made_at` has expired once more than `days` days have passed since. The retention sweep
(notifier/sweep.py) and the gateway judge with these, and say why with the messages below.
"""

from datetime import UTC, datetime, timedelta


def cutoff(now: datetime, days: int) -> datetime | None:
    """What was made before this has expired at `now`; None when kept forever (0 days)."""
    return None if days == 0 else now - timedelta(days=days)


def is_expired(made_at: datetime, now: datetime, days: int) -> bool:
    limit = cutoff(now, days)
    return limit is not None and made_at < limit


def output_expired(made_at: datetime | None, now: datetime, days: int) -> bool:
    """Whether an image's compressed copy, made at `made_at` (None: none made), is past
    RETAIN_COMPRESSED_DAYS (`days`) at `now`."""
    return made_at is not None and is_expired(made_at, now, days)


def _days(days: int) -> str:
    return "1 day" if days == 1 else f"{days} days"


def request_expired_message(request_id: str, expired_at: datetime, days: int) -> str:
    """What a tombstoned request's links answer (410)."""
    day = expired_at.astimezone(UTC).date().isoformat()
    return (
        f"request {request_id} expired on {day}: requests are kept {_days(days)} "
        "(RETAIN_REQUESTS_DAYS)"
    )


def output_expired_message(days: int) -> str:
    """What an image whose compressed copy expired says in the output CSV's Errors column."""
    return f"output expired: compressed copies are kept {_days(days)} (RETAIN_COMPRESSED_DAYS)"
