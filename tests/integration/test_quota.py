"""Tenants' limits on the real local stack (issue 14): `ingest.keys limit`.

Concurrency, images per day and bytes stored: over a limit the upload answers 429 with
Retry-After and a message naming the limit, and nothing is stored for it; ingest refuses a
CSV (uploaded, or dropped straight into the inbox bucket) that would break one, failing its
request with that message; status and the request list show the tenant's usage next to its
limits; 0 removes a limit. Each test has a tenant of its own.
"""

import io
import uuid
from collections.abc import AsyncIterator
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp
import pytest

from deploy.local.stack import Stack
from shared.names import INBOX_BUCKET
from shared.quotas import seconds_to_midnight
from tests.integration.client import base, image_url, make_csv, s3, upload, wait_final, wait_for
from tests.integration.conftest import Origin, Webhooks

pytestmark = pytest.mark.integration
CAT = "cat_chelsea_451x300.jpg"
CAMERA = "camera_gray_512.jpg"


@pytest.fixture
async def tenant(stack: Stack) -> AsyncIterator[tuple[str, aiohttp.ClientSession]]:
    """A fresh tenant and a client with its key."""
    name = f"quota-{uuid.uuid4().hex[:8]}"
    headers = {"Authorization": f"Bearer {stack.create_key('quota', name)}"}
    async with aiohttp.ClientSession(headers=headers) as http:
        yield name, http


def images_csv(stack: Stack, n: int, tag: str = "") -> bytes:
    """A CSV of `n` images, one a row (`tag` makes the URLs, hence the bytes, its own)."""
    return make_csv([[str(i), f"P{i}", image_url(stack, f"{CAT}?{tag}{i}")] for i in range(n)])


async def listed(http: aiohttp.ClientSession, stack: Stack, query: str = "") -> dict[str, Any]:
    async with http.get(f"{base(stack)}/api/requests{query}") as response:
        assert response.status == 200, await response.text()
        body: dict[str, Any] = await response.json()
        return body


async def accepted(http: aiohttp.ClientSession, stack: Stack, data: bytes) -> str:
    async with await upload(http, stack, data) as response:
        assert response.status == 202, await response.text()
        request_id: str = (await response.json())["request_id"]
        return request_id


async def refused(
    http: aiohttp.ClientSession, stack: Stack, data: bytes, status: int = 429
) -> tuple[str, aiohttp.ClientResponse]:
    async with await upload(http, stack, data) as response:
        assert response.status == status, await response.text()
        message: str = (await response.json())["error"]
        return message, response


def quota(used: int, limit: int | None) -> dict[str, int | None]:
    return {"used": used, "limit": limit}


async def test_an_upload_over_the_concurrency_limit_answers_429(
    stack: Stack, origin: Origin, tenant: tuple[str, aiohttp.ClientSession]
) -> None:
    name, http = tenant
    stack.limit(name, 1)
    slow = make_csv([["1", "Slow", origin.url(f"slow/3000/{name}/{CAT}")]])
    quick = make_csv([["1", "Cat", image_url(stack, CAT)]])
    first = await accepted(http, stack, slow)
    message, response = await refused(http, stack, quick)
    assert response.headers["Retry-After"] == "5"
    assert message == (
        f"tenant {name} has 1 requests in progress, its limit (max_concurrent); "
        "try again when one finishes"
    )
    assert [r["request_id"] for r in (await listed(http, stack))["requests"]] == [first]
    await wait_final(http, stack, first)
    await accepted(http, stack, quick)


async def test_images_per_day_are_refused_at_upload(
    stack: Stack, tenant: tuple[str, aiohttp.ClientSession]
) -> None:
    name, http = tenant
    assert stack.limit(name, images_per_day=3) == (
        f"{name}: max_concurrent=none max_images_per_day=3 max_bytes_stored=none"
    )
    first = await accepted(http, stack, images_csv(stack, 2, name))
    await wait_final(http, stack, first)
    message, response = await refused(http, stack, images_csv(stack, 2, name))
    assert message == (
        f"tenant {name} has used 2 of its 3 images today (max_images_per_day): 2 more would "
        "exceed it; try again after midnight UTC"
    )
    # The answer's Date is whole seconds, so the gateway's own moment is within a second.
    answered = parsedate_to_datetime(response.headers["Date"])
    assert abs(int(response.headers["Retry-After"]) - seconds_to_midnight(answered)) <= 1
    message, _ = await refused(http, stack, images_csv(stack, 4, name), status=413)
    assert message == (
        f"the CSV has 4 images, more than tenant {name} may have in a day "
        "(3, max_images_per_day): split it"
    )
    last = await accepted(http, stack, images_csv(stack, 1, name))  # exactly the third
    await wait_final(http, stack, last)
    message, _ = await refused(http, stack, images_csv(stack, 1, name))
    assert "has used 3 of its 3 images today (max_images_per_day)" in message
    assert [r["request_id"] for r in (await listed(http, stack))["requests"]] == [last, first]

    assert stack.limit(name, images_per_day=0) == (
        f"{name}: max_concurrent=none max_images_per_day=none max_bytes_stored=none"
    )
    await wait_final(http, stack, await accepted(http, stack, images_csv(stack, 2, name)))
    assert (await listed(http, stack))["usage"]["images_today"] == quota(5, None)


async def test_ingest_admits_only_what_fits_of_uploads_accepted_together(
    stack: Stack, tenant: tuple[str, aiohttp.ClientSession]
) -> None:
    """Two uploads the gateway accepted before ingest counted either: the day's images fit
    one of them, so ingest accepts exactly one and fails the other with the reason."""
    name, http = tenant
    stack.limit(name, images_per_day=3)
    stack.kill("ingest")  # both CSVs wait in the inbox queue, both requests pending
    try:
        ids = [await accepted(http, stack, images_csv(stack, 2, f"{name}-{n}")) for n in (1, 2)]
    finally:
        stack.revive("ingest")
    finals = {i: await wait_final(http, stack, i) for i in ids}
    outcomes = sorted(s["status"] for s in finals.values())
    assert outcomes == ["completed", "failed"]
    (loser,) = [s for s in finals.values() if s["status"] == "failed"]
    assert loser["error"] == (
        f"tenant {name} has used 2 of its 3 images today (max_images_per_day): 2 more would "
        "exceed it; try again after midnight UTC"
    )
    assert loser["counts"]["total"] == 0 and loser["products"] == []  # nothing was saved
    assert (await listed(http, stack))["usage"]["images_today"] == quota(2, 3)


async def test_a_dropped_csv_over_a_limit_fails_with_the_reason(
    stack: Stack, webhooks: Webhooks, tenant: tuple[str, aiohttp.ClientSession]
) -> None:
    name, http = tenant
    stack.limit(name, images_per_day=2)
    await wait_final(http, stack, await accepted(http, stack, images_csv(stack, 1, name)))
    key = f"{name}/batch-{uuid.uuid4().hex[:6]}.csv"
    data = images_csv(stack, 2, name)
    meta = {"webhook-url": webhooks.url}
    s3(stack).put_object(INBOX_BUCKET, key, io.BytesIO(data), len(data), metadata=meta)

    async def made() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = (await listed(http, stack, f"?inbox_key={key}"))["requests"]
        return found

    (request,) = await wait_for(made, "the dropped CSV's request")
    status = await wait_final(http, stack, request["request_id"])
    reason = (
        f"tenant {name} has used 1 of its 2 images today (max_images_per_day): 2 more would "
        "exceed it; try again after midnight UTC"
    )
    assert (status["status"], status["error"]) == ("failed", reason)
    (listed_request,) = await made()
    assert (listed_request["status"], listed_request["error"]) == ("failed", reason)

    async def hooked() -> list[Any]:
        return webhooks.for_request(request["request_id"])

    (delivery, *_) = await wait_for(hooked, "the failed request's webhook")
    assert (delivery.json()["status"], delivery.json()["error"]) == ("failed", reason)


async def test_bytes_stored_refuse_uploads_and_dropped_csvs_until_requests_are_deleted(
    stack: Stack, tenant: tuple[str, aiohttp.ClientSession]
) -> None:
    name, http = tenant
    stack.limit(name, concurrent=4, bytes_stored=1)  # whatever a request stores reaches it
    first = await wait_final(http, stack, await accepted(http, stack, images_csv(stack, 1, name)))
    (image,) = first["products"][0]["images"]
    assert not image["revalidated"] and not image["reused"]  # a new tenant's first image
    stored = image["bytes_in"] + image["bytes_out"]
    limits = {
        "requests_in_progress": quota(0, 4),
        "images_today": quota(1, None),
        "bytes_stored": quota(stored, 1),
    }
    assert (await listed(http, stack))["usage"] == limits

    message, response = await refused(http, stack, images_csv(stack, 1, name))
    assert response.headers["Retry-After"] == "3600"
    assert message == (
        f"tenant {name} stores {stored} bytes, its limit is 1 (max_bytes_stored): delete "
        "requests it no longer needs (DELETE /api/requests/{id}) or wait for retention to "
        "remove old ones"
    )
    key = f"{name}/dropped.csv"
    data = images_csv(stack, 1, name)
    s3(stack).put_object(INBOX_BUCKET, key, io.BytesIO(data), len(data))

    async def failed() -> dict[str, Any] | None:
        found = (await listed(http, stack, f"?inbox_key={key}"))["requests"]
        return found[0] if found and found[0]["status"] == "failed" else None

    assert (await wait_for(failed, "the dropped CSV's request to fail"))["error"] == message

    async with http.delete(f"{base(stack)}/api/requests/{first['request_id']}") as deleted:
        assert deleted.status == 204
    assert (await listed(http, stack))["usage"]["bytes_stored"] == quota(0, 1)
    await accepted(http, stack, images_csv(stack, 1, name))


async def test_usage_is_exact_in_status_and_list(
    stack: Stack, tenant: tuple[str, aiohttp.ClientSession]
) -> None:
    name, http = tenant
    stack.limit(name, concurrent=3, images_per_day=10)
    assert stack.limit(name, bytes_stored=10**9) == (  # the others are left as they are
        f"{name}: max_concurrent=3 max_images_per_day=10 max_bytes_stored=1000000000"
    )
    rows = [["1", "Two", f"{image_url(stack, CAT)}, {image_url(stack, CAMERA)}"]]
    request_id = await accepted(http, stack, make_csv(rows, ["s", "product", "urls"]))
    status = await wait_final(http, stack, request_id)
    assert status["status"] == "completed"
    images = status["products"][0]["images"]
    stored = sum(
        i["bytes_in"] + i["bytes_out"] + sum(v["bytes"] for v in i["variants"]) for i in images
    )
    usage = {
        "requests_in_progress": quota(0, 3),
        "images_today": quota(2, 10),
        "bytes_stored": quota(stored, 10**9),
    }
    assert status["usage"] == usage
    assert (await listed(http, stack))["usage"] == usage

    # The same CSV again: every original revalidated or output reused adds nothing new.
    again = await wait_final(http, stack, await accepted(http, stack, make_csv(rows)))
    added = sum(
        (0 if i["revalidated"] else i["bytes_in"])
        + (0 if i["reused"] else i["bytes_out"] + sum(v["bytes"] for v in i["variants"]))
        for i in again["products"][0]["images"]
    )
    assert again["usage"]["bytes_stored"] == quota(stored + added, 10**9)
    assert again["usage"]["images_today"] == quota(4, 10)

    assert stack.limit(name, concurrent=0, images_per_day=0, bytes_stored=0) == (
        f"{name}: max_concurrent=none max_images_per_day=none max_bytes_stored=none"
    )
    assert (await listed(http, stack))["usage"] == {
        "requests_in_progress": quota(0, None),
        "images_today": quota(4, None),
        "bytes_stored": quota(stored + added, None),
    }
