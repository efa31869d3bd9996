import asyncio

import pytest

from compressor import memory
from compressor.budget import PixelBudget
from compressor.memory import TrimWhenIdle

pytestmark = pytest.mark.skipif(memory._TRIM is None, reason="no malloc_trim in this libc")


async def test_trims_once_the_budget_has_been_idle_for_the_pause() -> None:
    budget = PixelBudget(100)
    trim = TrimWhenIdle(budget, pause_s=0.05)
    async with budget.hold(10):
        trim.finished()  # another image is still in hand: nothing scheduled
    await asyncio.sleep(0.1)
    assert trim.trims == 0
    trim.finished()
    trim.finished()  # a second image finishing restarts the pause: still one trim
    await asyncio.sleep(0.2)
    assert trim.trims == 1


async def test_an_image_started_during_the_pause_puts_the_trim_off() -> None:
    budget = PixelBudget(100)
    trim = TrimWhenIdle(budget, pause_s=0.05)
    trim.finished()
    async with budget.hold(10):
        await asyncio.sleep(0.1)  # the pause ends while this image is in hand
    assert trim.trims == 0
