"""How long a held retry still waits (pure)."""

from shared.delays import DUE_HEADER, wait_s


def test_a_message_is_held_until_its_due_moment() -> None:
    assert wait_s({DUE_HEADER: 10_500}, 5.0, now_ms=10_000) == 0.5


def test_a_message_past_due_is_released_at_once() -> None:
    # e.g. handed back by a holder that died, or delivered after a broker outage
    assert wait_s({DUE_HEADER: 9_000}, 5.0, now_ms=10_000) == 0.0


def test_a_message_without_a_due_moment_waits_its_level() -> None:
    assert wait_s({}, 5.0, now_ms=10_000) == 5.0
    assert wait_s({DUE_HEADER: "soon"}, 5.0, now_ms=10_000) == 5.0
