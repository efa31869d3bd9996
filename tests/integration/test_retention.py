"""Retention on the real local stack (issue 14): the sweep, run in-process against the real
servers with a clock moved forward, tombstones an old request and deletes what it stored;
its links answer 410 saying why; a younger request is untouched; an image whose compressed
copy outlived RETAIN_COMPRESSED_DAYS shows it, and the output CSV says so.

A stack of its own: the sweep deletes everything older than its cutoff, whoever made it.
"""

import csv
import io
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from pymongo import MongoClient
from pymongo.database import Database

from deploy.local.stack import Stack
from deploy.local.testing import running_stack
from notifier.sweep import Sweeper
from shared.names import COMPRESSED_BUCKET, INBOX_BUCKET, ORIGINALS_BUCKET
from shared.runtime import open_clients
from shared.settings import Settings
from tests.integration.client import (
    base,
    image_url,
    make_csv,
    own_settings,
    s3,
    upload,
    wait_final,
    wait_for,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
DAY = timedelta(days=1)
MINUTE = timedelta(minutes=1)
EXPIRED_OUTPUT = "output expired: compressed copies are kept 1 day (RETAIN_COMPRESSED_DAYS)"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    # The gateway judges outputs by RETAIN_COMPRESSED_DAYS; the stack's own sweep (real clock)
    # finds nothing a day old here.
    extra_env = {"RETAIN_COMPRESSED_DAYS": "1", "RECONCILE_INTERVAL_S": "0.5"}
    with running_stack(tmp_path_factory.mktemp("stack"), "imgpipe-retention", extra_env) as s:
        yield s


@pytest.fixture(scope="module")
async def http(stack: Stack) -> AsyncIterator[aiohttp.ClientSession]:
    key = stack.create_key("retention tests", "keeper")
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {key}"}) as session:
        yield session


@pytest.fixture(scope="module")
def db(stack: Stack) -> Iterator[Database[dict[str, Any]]]:
    env = stack.config.env()
    with MongoClient(env["MONGO_URL"], tz_aware=True) as client:
        yield client[env["MONGO_DB"]]


def objects(stack: Stack, bucket: str, prefix: str) -> dict[str, datetime]:
    """Key → last modified, as the store lists them."""
    listed = s3(stack).list_objects(bucket, prefix, recursive=True)
    return {o.object_name: o.last_modified for o in listed if o.object_name and o.last_modified}


def stored(stack: Stack, request_id: str) -> dict[tuple[str, str], datetime]:
    """(bucket, key) → last modified of the request's originals and compressed copies."""
    return {
        (bucket, key): modified
        for bucket in (ORIGINALS_BUCKET, COMPRESSED_BUCKET)
        for key, modified in objects(stack, bucket, f"{request_id}/").items()
    }


async def finished(http: aiohttp.ClientSession, stack: Stack, *names: str) -> dict[str, Any]:
    """A finished request of these sample images, with objects of its own."""
    rows = [[str(n), f"Product {n}", image_url(stack, name)] for n, name in enumerate(names, 1)]
    async with await upload(http, stack, make_csv(rows), **own_settings()) as response:
        assert response.status == 202, await response.text()
        request_id = (await response.json())["request_id"]
    status = await wait_final(http, stack, request_id)
    assert status["status"] == "completed", status
    return status


async def answer(http: aiohttp.ClientSession, method: str, url: str) -> tuple[int, str]:
    async with http.request(method, url) as response:
        if response.content_type == "application/json":
            return response.status, str((await response.json())["error"])
        return response.status, await response.text()


async def test_an_output_past_its_days_has_no_link_and_the_csv_says_it_expired(
    stack: Stack, http: aiohttp.ClientSession, db: Database[dict[str, Any]]
) -> None:
    status = await finished(http, stack, "cat_chelsea_451x300.jpg", "camera_gray_512.jpg")
    request_id = status["request_id"]
    # Only the first image's output is older than a day (its request is kept).
    first = f"{request_id}.0.0"
    done_at = db["images"].find_one({"_id": first})["finished_at"]  # type: ignore[index]
    db["images"].update_one({"_id": first}, {"$set": {"finished_at": done_at - 2 * DAY}})

    async with http.get(f"{base(stack)}/api/status/{request_id}") as response:
        assert response.status == 200
        products = (await response.json())["products"]
    old, young = products[0]["images"][0], products[1]["images"][0]
    assert (old["status"], old["output_expired"], old["output_url"]) == ("done", True, None)
    assert (young["output_expired"], young["output_url"] is not None) == (False, True)

    async with http.get(f"{base(stack)}/api/download/{request_id}") as response:
        assert response.status == 200
        rows = list(csv.reader(io.StringIO((await response.read()).decode("utf-8-sig"))))
    assert rows[0][-2:] == ["Output Image Urls", "Errors"]
    assert rows[1][-2:] == ["", f"1: {EXPIRED_OUTPUT}"]  # as a failed image reports itself
    # Links are signed each time they are served: compare them without their signatures.
    assert rows[2][-2].split("?")[0] == young["output_url"].split("?")[0]
    assert rows[2][-1] == ""


async def test_the_sweep_expires_an_old_request_and_keeps_a_younger_one(
    stack: Stack,
    http: aiohttp.ClientSession,
    db: Database[dict[str, Any]],
) -> None:
    old = (await finished(http, stack, "cat_chelsea_451x300.jpg"))["request_id"]
    old_doc = db["requests"].find_one({"_id": old})
    assert old_doc is not None
    csv_key = old_doc["source"]["key"]
    old_objects = stored(stack, old)
    assert len(old_objects) == 2 and csv_key in objects(stack, INBOX_BUCKET, csv_key)
    # The cutoff falls after everything of the old request and before the young one; the store
    # may list times in whole seconds, so the young one starts in a later second.
    point = max([old_doc["completed_at"], *old_objects.values()]) + timedelta(milliseconds=1)

    async def next_second() -> bool:
        return time.time() >= int(point.timestamp()) + 1

    await wait_for(next_second, "the clock's next second")
    young_status = await finished(http, stack, "camera_gray_512.jpg")
    young = young_status["request_id"]
    young_objects = stored(stack, young)
    assert min(young_objects.values()) > point  # the setup, not the rule under test

    # A day after the point, with everything kept one day: the point is the cutoff.
    now = point + DAY
    retention = {f"RETAIN_{kind}_DAYS": "1" for kind in ("ORIGINALS", "COMPRESSED", "REQUESTS")}
    settings = Settings.from_env({**stack.config.env(), **retention, "SWEEP_OBJECTS": "true"})
    async with open_clients(settings) as clients:
        sweeper = Sweeper()
        assert await sweeper.sweep(clients, now) is False  # a small store: one pass does all

    assert stored(stack, old) == {}
    assert objects(stack, INBOX_BUCKET, csv_key) == {}
    stone = db["requests"].find_one({"_id": old})
    assert stone is not None
    assert stone["status"] == "expired" and stone["kept_days"] == 1
    assert abs(stone["expired_at"] - now) < timedelta(milliseconds=1)  # BSON keeps ms
    assert stone["source"] is None and stone["header"] == []
    assert db["images"].count_documents({"request_id": old}) == 0
    assert db["rows"].count_documents({"request_id": old}) == 0

    reason = (
        f"request {old} expired on {now.astimezone(UTC).date().isoformat()}: requests are "
        "kept 1 day (RETAIN_REQUESTS_DAYS)"
    )
    for method, path in (
        ("GET", f"/api/status/{old}"),
        ("GET", f"/api/download/{old}"),
        ("DELETE", f"/api/requests/{old}"),
    ):
        assert await answer(http, method, f"{base(stack)}{path}") == (410, reason), path
    other = stack.create_key("another tenant", "someone-else")
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {other}"}) as stranger:
        status, _ = await answer(stranger, "GET", f"{base(stack)}/api/status/{old}")
        assert status == 404  # not theirs: as if it never existed
    async with http.get(f"{base(stack)}/api/requests", params={"limit": "100"}) as response:
        listed = {r["request_id"]: r for r in (await response.json())["requests"]}
    assert listed[old]["status"] == "expired"
    assert listed[old]["expired_at"] is not None

    # The young request: untouched, its output still served.
    assert stored(stack, young) == young_objects
    async with http.get(f"{base(stack)}/api/status/{young}") as response:
        assert response.status == 200
        (image,) = (await response.json())["products"][0]["images"]
    assert image["output_expired"] is False
    async with aiohttp.ClientSession() as anonymous, anonymous.get(image["output_url"]) as r:
        assert r.status == 200


async def test_a_sweep_pass_is_not_repeated_within_the_interval(
    stack: Stack, db: Database[dict[str, Any]]
) -> None:
    """The stack's notifier swept at its start: the lease keeps anyone from sweeping again
    before SWEEP_INTERVAL_S has passed."""

    async def swept() -> dict[str, Any] | None:
        lease = db["leases"].find_one({"_id": "retention-sweep"})
        # Held for the default hour once a pass found nothing left.
        return lease if lease and lease["until"] > datetime.now(UTC) + 50 * MINUTE else None

    lease = await wait_for(swept, "the stack's first complete sweep")
    settings = Settings.from_env(stack.config.env())
    async with open_clients(settings) as clients:
        await Sweeper().run_if_due(clients)
    assert db["leases"].find_one({"_id": "retention-sweep"}) == lease  # not taken again
