"""The compressor's pixel budget: memory is bounded by pixels in flight, first come first served."""

import asyncio

import pytest

from compressor.budget import PixelBudget


async def hold_until(
    budget: PixelBudget, pixels: int, log: list[str], name: str, release: asyncio.Event
) -> None:
    async with budget.hold(pixels):
        log.append(name)
        await release.wait()


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_images_within_the_budget_run_together() -> None:
    budget, log, release = PixelBudget(10), [], asyncio.Event()
    tasks = [asyncio.create_task(hold_until(budget, 4, log, n, release)) for n in "ab"]
    await settle()
    assert log == ["a", "b"] and budget.free == 2
    release.set()
    await asyncio.gather(*tasks)
    assert budget.free == 10


async def test_an_image_waits_until_enough_pixels_are_free() -> None:
    budget, log = PixelBudget(10), []
    first, second = asyncio.Event(), asyncio.Event()
    a = asyncio.create_task(hold_until(budget, 8, log, "a", first))
    await settle()
    b = asyncio.create_task(hold_until(budget, 5, log, "b", second))
    await settle()
    assert log == ["a"]
    first.set()
    await a
    await settle()
    assert log == ["a", "b"] and budget.free == 5
    second.set()
    await b


async def test_an_image_bigger_than_the_budget_runs_alone() -> None:
    budget, log, release = PixelBudget(10), [], asyncio.Event()
    big = asyncio.create_task(hold_until(budget, 64, log, "big", release))
    await settle()
    small = asyncio.create_task(hold_until(budget, 1, log, "small", release))
    await settle()
    assert log == ["big"] and budget.free == 0
    release.set()
    await asyncio.gather(big, small)
    assert log == ["big", "small"] and budget.free == 10


async def test_small_images_queue_behind_a_waiting_big_one() -> None:
    budget, log = PixelBudget(10), []
    running, rest = asyncio.Event(), asyncio.Event()
    a = asyncio.create_task(hold_until(budget, 6, log, "a", running))
    await settle()
    big = asyncio.create_task(hold_until(budget, 10, log, "big", rest))
    await settle()
    small = asyncio.create_task(hold_until(budget, 1, log, "small", rest))
    await settle()
    assert log == ["a"]  # 4 pixels are free, but "small" does not jump the queue
    running.set()
    await a
    await settle()
    assert log == ["a", "big"]
    rest.set()
    await asyncio.gather(big, small)
    assert log == ["a", "big", "small"] and budget.free == 10


async def test_a_cancelled_waiter_gives_its_turn_away() -> None:
    budget, log = PixelBudget(10), []
    running, rest = asyncio.Event(), asyncio.Event()
    a = asyncio.create_task(hold_until(budget, 6, log, "a", running))
    await settle()
    big = asyncio.create_task(hold_until(budget, 10, log, "big", rest))
    await settle()
    small = asyncio.create_task(hold_until(budget, 4, log, "small", rest))
    await settle()
    big.cancel()
    with pytest.raises(asyncio.CancelledError):
        await big
    await settle()
    assert log == ["a", "small"] and budget.free == 0
    running.set()
    rest.set()
    await asyncio.gather(a, small)
    assert budget.free == 10


async def test_pixels_come_back_when_the_block_fails() -> None:
    budget = PixelBudget(10)
    with pytest.raises(RuntimeError):
        async with budget.hold(7):
            raise RuntimeError("codec failed")
    assert budget.free == 10
