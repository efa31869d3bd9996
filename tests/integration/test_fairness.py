"""A huge request cannot starve a small one queued after it (the fetcher's bulk lane)."""

import aiohttp
import pytest

from deploy.local.stack import Stack
from tests.integration.client import make_csv, status_of, upload, wait_final, wait_for
from tests.integration.conftest import BULK_REQUEST_IMAGES, Origin

pytestmark = pytest.mark.integration


async def test_small_request_overtakes_a_big_one(
    stack: Stack, http: aiohttp.ClientSession, origin: Origin
) -> None:
    # Three times the fetcher's prefetch window of slow images (2 s each): without lanes, a
    # small request uploaded next would wait until two thirds of these had been fetched.
    big = [
        ["1", f"Slow {n}", origin.url(f"slow/2000/big-{n}/cat_chelsea_451x300.jpg")]
        for n in range(BULK_REQUEST_IMAGES + 8)
    ]
    big_id = (await (await upload(http, stack, make_csv(big))).json())["request_id"]

    async def fanned_out() -> bool:
        return (await status_of(http, stack, big_id))["status"] == "processing"

    await wait_for(fanned_out, "the big request's fan-out")
    small = [["1", "Quick", origin.url("ok/camera_gray_512.jpg")]]
    small_id = (await (await upload(http, stack, make_csv(small))).json())["request_id"]

    assert (await wait_final(http, stack, small_id))["status"] == "completed"
    counts = (await status_of(http, stack, big_id))["counts"]
    assert counts["done"] + counts["failed"] < counts["total"] / 2, counts
    assert (await wait_final(http, stack, big_id, within=120))["status"] == "completed"
