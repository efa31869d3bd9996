"""The backoff schedule and its delay queues."""

import random

import pytest

from shared.retry import JITTER, delay_queue, next_delay, wait_ms

DELAYS = (1.0, 5.0, 30.0)


@pytest.mark.parametrize(("attempt", "expected"), [(1, 1.0), (2, 5.0), (3, 30.0), (4, None)])
def test_schedule(attempt: int, expected: float | None) -> None:
    assert next_delay(attempt, DELAYS) == expected


@pytest.mark.parametrize(
    ("attempt", "wanted", "expected"),
    [
        (1, 3.0, 5.0),  # Retry-After 3 s: the smallest level that waits that long
        (1, 0.5, 1.0),  # never shorter than the schedule's own level
        (2, 1.0, 5.0),
        (1, 600.0, 30.0),  # longer than any level: the longest
        (4, 1.0, None),  # used up, whatever the server asks for
    ],
)
def test_wanted_delay(attempt: int, wanted: float, expected: float | None) -> None:
    assert next_delay(attempt, DELAYS, wanted) == expected


def test_queue_names_are_per_level() -> None:
    assert delay_queue(0.2) == "imgpipe.wait.200ms"
    assert delay_queue(30) == "imgpipe.wait.30000ms"


def test_wait_is_jittered_below_the_level() -> None:
    rng = random.Random(7)
    values = [wait_ms(5.0, rng) for _ in range(200)]
    assert all(5000 * (1 - JITTER) <= v <= 5000 for v in values)
    assert len(set(values)) > 100  # spread out, not one burst
