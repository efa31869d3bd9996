"""Bulk-lane fetches wait while the compressor's queue is deeper than the bound, and only then."""

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from fetcher.backpressure import DEPTH_TTL_S, LONGEST_HOLD_S, POLL_S, Gate, holds
from shared.settings import Settings
from tests.unit.shared.test_settings import REQUIRED


@pytest.mark.parametrize(
    ("depth", "held_s", "expected"),
    [
        (0, 0.0, False),
        (32, 0.0, False),  # at the bound: the compressors have enough to do
        (33, 0.0, True),
        (10_000, LONGEST_HOLD_S - 1, True),
        (10_000, LONGEST_HOLD_S, False),  # released before the broker's consumer timeout
        (None, 0.0, False),  # the depth is unknown: fetch as if there were no bound
    ],
)
def test_holds_while_the_compressor_queue_is_deeper_than_the_bound(
    depth: int | None, held_s: float, expected: bool
) -> None:
    assert holds(depth, 32, held_s) is expected


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


def fixed(*depths: int) -> Callable[[], Awaitable[int]]:
    """A probe answering `depths` in turn, then the last one for ever."""
    answers = list(depths)

    async def probe() -> int:
        return answers.pop(0) if len(answers) > 1 else answers[0]

    return probe


async def test_a_fetch_waits_until_the_queue_drains_to_the_bound() -> None:
    clock = Clock()
    gate = Gate(fixed(100, 60, 33, 32), 32, clock, clock.sleep)
    # Each look is a poll later, and the probe is asked again once its answer is a TTL old.
    waited = await gate.wait()
    assert waited >= 3 * DEPTH_TTL_S
    assert await gate.depth() == 33  # its own original counted until the next probe


async def test_a_fetch_does_not_wait_below_the_bound() -> None:
    clock = Clock()
    assert await Gate(fixed(5), 32, clock, clock.sleep).wait() == 0


async def test_fetches_let_through_count_until_the_next_probe() -> None:
    # Fetches faster than the TTL would all pass on one stale answer: each one passed counts.
    async def held(_: float) -> None:
        await asyncio.Event().wait()  # the clock stands still: no new probe

    gate = Gate(fixed(30), 32, Clock(), held)
    waits = [asyncio.create_task(gate.wait()) for _ in range(10)]
    for _ in range(5):
        await asyncio.sleep(0)
    # 30, 31 and 32 were at most the bound; the other seven wait for a new probe.
    assert sum(w.done() for w in waits) == 3
    assert await gate.depth() == 33
    for w in waits:
        w.cancel()


async def test_a_fetch_that_stored_no_original_stops_counting() -> None:
    """A re-run's fetches mostly reuse an output: counted as originals, they would hold every
    fetch after the first 32 per probe while the compressor has nothing to do."""

    async def held(_: float) -> None:
        await asyncio.Event().wait()  # the clock stands still: no new probe

    gate = Gate(fixed(31), 32, Clock(), held)
    await gate.wait()
    await gate.wait()
    assert await gate.depth() == 33
    gate.added_nothing()
    assert await gate.depth() == 32
    await asyncio.wait_for(gate.wait(), 1)  # at the bound again: let through
    for _ in range(5):
        gate.added_nothing()
    assert await gate.depth() == 31  # never below what the probe said


async def test_an_unknown_depth_holds_nothing_and_is_asked_again_after_the_ttl() -> None:
    clock = Clock()
    answers: list[int | Exception] = [ConnectionError("broker gone"), 7]

    async def probe() -> int:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    gate = Gate(probe, 32, clock, clock.sleep)
    assert await gate.wait() == 0
    assert await gate.depth() is None
    clock.now += DEPTH_TTL_S
    assert await gate.depth() == 7


async def test_a_fetch_goes_ahead_after_the_longest_hold_on_a_stopped_compressor() -> None:
    clock = Clock()
    waited = await Gate(fixed(1_000), 32, clock, clock.sleep).wait()
    assert LONGEST_HOLD_S <= waited <= LONGEST_HOLD_S + POLL_S


async def test_the_depth_is_asked_once_per_ttl_however_many_fetches_wait() -> None:
    clock = Clock()
    asked = 0

    async def probe() -> int:
        nonlocal asked
        asked += 1
        await asyncio.sleep(0)  # others arrive while the broker answers
        return 40 + asked

    gate = Gate(probe, 32, clock, clock.sleep)
    assert await asyncio.gather(*(gate.depth() for _ in range(10))) == [41] * 10
    clock.now += DEPTH_TTL_S / 2
    assert await gate.depth() == 41
    clock.now += DEPTH_TTL_S / 2
    assert await gate.depth() == 42
    assert asked == 2


def test_the_bound_defaults_to_two_prefetch_windows() -> None:
    assert Settings.from_env(REQUIRED).bulk_pause_backlog == 32
    assert Settings.from_env({**REQUIRED, "PREFETCH": "5"}).bulk_pause_backlog == 10
    env = {**REQUIRED, "PREFETCH": "5", "BULK_PAUSE_BACKLOG": "100"}
    assert Settings.from_env(env).bulk_pause_backlog == 100
