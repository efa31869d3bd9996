"""keep_trying: a server still starting is waited for with backoff, and the wait is visible."""

import asyncio
import logging

import pytest

from shared import runtime
from shared.runtime import Waiting, keep_trying


async def test_waits_with_growing_delays_until_the_server_answers(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    slept: list[float] = []

    async def no_sleep(delay: float) -> None:
        slept.append(delay)

    monkeypatch.setattr(runtime.asyncio, "sleep", no_sleep)
    calls = 0
    seen: list[dict[str, str]] = []
    waiting = Waiting()

    async def attempt() -> str:
        nonlocal calls
        calls += 1
        seen.append(dict(waiting.reasons))
        if calls < 8:
            raise ConnectionError("connection closed")
        return "ok"

    with caplog.at_level(logging.INFO, logger="shared.runtime"):
        assert await keep_trying("database", attempt, waiting) == "ok"
    assert slept == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0]  # doubling, capped at 30 s
    assert seen[1] == {"database": "ConnectionError: connection closed"}  # /readyz shows it
    assert waiting.reasons == {}  # reachable: nothing left to wait for
    messages = [r.getMessage() for r in caplog.records]
    assert "cannot reach the database yet (ConnectionError: connection closed)" in messages[0]
    assert messages[-1] == "the database is reachable"


async def test_a_first_success_waits_for_nothing() -> None:
    waiting = Waiting()

    async def attempt() -> int:
        return 7

    assert await asyncio.wait_for(keep_trying("broker", attempt, waiting), 1) == 7
    assert waiting.reasons == {}
