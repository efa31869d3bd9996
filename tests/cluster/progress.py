"""How far a run's requests are, read from MongoDB and the webhook receiver: images finished,
statuses, and waiting until every request is final and its webhook answered."""

import asyncio
import time
from typing import Any

import pymongo.errors

from tests.faults.checks import FINAL
from tests.faults.scenario import finished
from tests.faults.servers import WebhookReceiver


async def progress(db: Any, ids: list[str]) -> tuple[int, int]:
    """Images finished (done or failed) and images in all, over the run's requests."""
    try:
        docs = await asyncio.to_thread(lambda: list(db.requests.find({"_id": {"$in": ids}})))
    except pymongo.errors.PyMongoError:
        return 0, 1  # asked again at the next poll
    return sum(finished(d) for d in docs), sum(d.get("total", 0) for d in docs)


async def statuses(db: Any, ids: list[str]) -> list[str]:
    docs = await asyncio.to_thread(lambda: list(db.requests.find({"_id": {"$in": ids}})))
    return [str(d.get("status")) for d in docs]


async def wait_final(db: Any, ids: list[str], stalled_s: float) -> None:
    """Until every request is final, or no image finished for `stalled_s` (the checks then say
    which images are missing)."""
    done_before, moved = -1, time.monotonic()
    while not all(status in FINAL for status in await statuses(db, ids)):
        done, _ = await progress(db, ids)
        if done > done_before:
            done_before, moved = done, time.monotonic()
        if time.monotonic() - moved > stalled_s:
            return
        await asyncio.sleep(0.5)


async def wait_delivered(hooks: WebhookReceiver, request_id: str, within: float = 30.0) -> None:
    """Until the request's webhook was answered 2xx, for `within` seconds at most."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if any(200 <= d.answered < 300 for d in hooks.for_request(request_id)):
            return
        await asyncio.sleep(0.1)
