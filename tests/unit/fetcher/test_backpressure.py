"""Bulk-lane fetches wait while the compressor's queue is deeper than the bound, and only then."""

import asyncio

import pytest

from fetcher.backpressure import DEPTH_TTL_S, LONGEST_HOLD_S, POLL_S, CachedDepth, hold, holds
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


async def test_hold_waits_until_the_queue_drains_to_the_bound() -> None:
    clock = Clock()
    depths = iter([100, 60, 33, 32, 0])

    async def depth() -> int | None:
        return next(depths)

    assert await hold(depth, 32, clock, clock.sleep) == pytest.approx(3 * POLL_S)
    assert next(depths) == 0  # looked no further once under the bound


async def test_hold_does_not_wait_below_the_bound_nor_when_the_depth_is_unknown() -> None:
    clock = Clock()

    async def unknown() -> int | None:
        return None

    async def shallow() -> int | None:
        return 5

    assert await hold(unknown, 32, clock, clock.sleep) == 0
    assert await hold(shallow, 32, clock, clock.sleep) == 0


async def test_hold_gives_up_waiting_on_a_stopped_compressor() -> None:
    clock = Clock()

    async def deep() -> int | None:
        return 1_000

    assert LONGEST_HOLD_S <= await hold(deep, 32, clock, clock.sleep) <= LONGEST_HOLD_S + POLL_S


async def test_the_depth_is_asked_once_per_ttl_however_many_fetches_wait() -> None:
    clock = Clock()
    asked = 0

    async def probe() -> int:
        nonlocal asked
        asked += 1
        await asyncio.sleep(0)  # others arrive while the broker answers
        return 40 + asked

    depth = CachedDepth(probe, clock=clock)
    assert await asyncio.gather(*(depth() for _ in range(10))) == [41] * 10
    clock.now += DEPTH_TTL_S / 2
    assert await depth() == 41
    clock.now += DEPTH_TTL_S / 2
    assert await depth() == 42
    assert asked == 2


async def test_a_failed_probe_gives_an_unknown_depth_and_is_retried_after_the_ttl() -> None:
    clock = Clock()
    answers: list[int | Exception] = [ConnectionError("broker gone"), 7]

    async def probe() -> int:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    depth = CachedDepth(probe, clock=clock)
    assert await depth() is None
    clock.now += DEPTH_TTL_S
    assert await depth() == 7


def test_the_bound_defaults_to_two_prefetch_windows() -> None:
    assert Settings.from_env(REQUIRED).bulk_pause_backlog == 32
    assert Settings.from_env({**REQUIRED, "PREFETCH": "5"}).bulk_pause_backlog == 10
    env = {**REQUIRED, "PREFETCH": "5", "BULK_PAUSE_BACKLOG": "100"}
    assert Settings.from_env(env).bulk_pause_backlog == 100
