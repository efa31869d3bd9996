"""A huge request cannot starve a small one, nor another huge one (the fetcher's bulk lanes)."""

from typing import Any

import aiohttp
import pytest
from pymongo.database import Database

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


async def test_big_requests_are_fetched_side_by_side(
    stack: Stack,
    http: aiohttp.ClientSession,
    origin: Origin,
    mongo: Database[dict[str, Any]],
) -> None:
    # Two big requests of the same shape, B uploaded while A is being fetched. In one lane B
    # would wait until every fetch of A was done; in lanes of their own they share the fetcher
    # (and its 4 connections to the origin: 8 slow images a second), so B gets going at once.
    # 64 images each: A alone takes 8 s, B's first 8 take about 1 s once A's window is served.
    def big(name: str) -> bytes:
        rows = [
            ["1", f"Slow {n}", origin.url(f"slow/500/{name}-{n}/cat_chelsea_451x300.jpg")]
            for n in range(BULK_REQUEST_IMAGES + 24)
        ]
        return make_csv(rows)

    a_id = (await (await upload(http, stack, big("side-a"))).json())["request_id"]

    async def a_processing() -> bool:
        return bool((await status_of(http, stack, a_id))["status"] == "processing")

    await wait_for(a_processing, "request A's fan-out")
    b_id = (await (await upload(http, stack, big("side-b"))).json())["request_id"]

    async def b_going() -> bool:
        counts = (await status_of(http, stack, b_id))["counts"]
        return bool(counts["done"] + counts["failed"] >= 8)

    await wait_for(b_going, "request B's first 8 images", within=30)
    counts = (await status_of(http, stack, a_id))["counts"]
    assert counts["done"] + counts["failed"] <= counts["total"] - 16, counts
    assert (await wait_final(http, stack, b_id))["status"] == "completed"
    assert (await wait_final(http, stack, a_id))["status"] == "completed"
    lanes = {
        doc["_id"]: doc["fetch_lane"]
        for doc in mongo["requests"].find({"_id": {"$in": [a_id, b_id]}})
    }
    assert lanes[a_id] != lanes[b_id], lanes


async def test_small_request_overtakes_a_big_ones_compression_backlog(
    stack: Stack, http: aiohttp.ClientSession, origin: Origin
) -> None:
    # Another tenant's big request whose originals are fetched far faster than they can be
    # compressed (AVIF at effort max: a tenth of a second or more each; every URL its own
    # bytes, so nothing is reused). Without backpressure its whole backlog would be in the
    # compressor's queue within seconds, and a small request's original would land behind it.
    # With it, the backlog waits in its fetch lane, which the small request overtakes.
    big = [
        ["1", f"Big {n}", origin.url(f"unique/backlog-{n}/cat_chelsea_451x300.jpg")]
        for n in range(6 * BULK_REQUEST_IMAGES)
    ]
    key = stack.create_key("fairness tests, the big tenant", "tests-big")
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {key}"}) as other:
        response = await upload(other, stack, make_csv(big), format="avif", effort="max")
        big_id = (await response.json())["request_id"]

        async def finished() -> int:
            counts = (await status_of(other, stack, big_id))["counts"]
            return int(counts["done"] + counts["failed"])

        async def a_quarter_finished() -> bool:
            return await finished() >= len(big) // 4

        # By then the fetcher, far faster, would have queued every original for the
        # compressor without backpressure.
        await wait_for(a_quarter_finished, "a quarter of the big request", within=120)
        small = [["1", "Quick", origin.url("unique/backlog-small/camera_gray_512.jpg")]]
        small_id = (await (await upload(http, stack, make_csv(small))).json())["request_id"]
        assert (await wait_final(http, stack, small_id, within=120))["status"] == "completed"
        # What the small request waited behind: at most about the bound (32 originals), the
        # compressor's window and the lane's fetches in flight; not the rest of the backlog.
        overtaken = len(big) - await finished()
        assert overtaken >= len(big) // 4, f"it waited for the backlog: {overtaken} left of it"
        assert (await wait_final(other, stack, big_id, within=180))["status"] == "completed"
