"""Re-runs on the real local stack (issue 14): the fetcher asks the origin whether each image
changed (If-None-Match); on a 304 the earlier output of the same source and settings is the
image's output, with no download and no codec; the compressor reuses an earlier output of the
same bytes arriving another way. A reused output is the earlier request's object itself.

The origin here sends an ETag; a changed image at the same URL gets a new one and is
downloaded again; when what the validators point at is gone (every request that used it
deleted), the 304 is not trusted and the image is downloaded again; another tenant never
uses our validators.
"""

import uuid
from typing import Any

import aiohttp
import pytest

from deploy.local.stack import Stack
from tests.integration.client import base, make_csv, own_settings, upload, wait_final
from tests.integration.conftest import Origin

pytestmark = pytest.mark.integration


async def run(http: aiohttp.ClientSession, stack: Stack, url: str, **fields: str) -> dict[str, Any]:
    """One request of the one URL: its image, once the request finished."""
    async with await upload(http, stack, make_csv([["1", "Cat", url]]), **fields) as response:
        assert response.status == 202, await response.text()
        request_id = (await response.json())["request_id"]
    status = await wait_final(http, stack, request_id)
    assert status["status"] == "completed", status
    image: dict[str, Any] = status["products"][0]["images"][0]
    return {**image, "request_id": request_id}


async def test_a_rerun_revalidates_and_a_change_is_downloaded(
    stack: Stack, http: aiohttp.ClientSession, anonymous: aiohttp.ClientSession, origin: Origin
) -> None:
    tag = uuid.uuid4().hex[:8]
    url = origin.url(f"etag/{tag}/cat_chelsea_451x300.jpg/camera_gray_512.jpg")
    settings = own_settings()  # so only this test's requests share outputs
    first = await run(http, stack, url, **settings)
    assert not first["revalidated"] and origin.hits[f"{tag} 200"] == 1

    again = await run(http, stack, url, **settings)
    assert again["revalidated"] and again["reused"] and origin.hits[f"{tag} 304"] == 1
    assert origin.hits[f"{tag} 200"] == 1  # nothing downloaded the second time
    assert (again["bytes_in"], again["bytes_out"]) == (first["bytes_in"], first["bytes_out"])
    assert "compress_started" not in again["timeline"]  # no codec: the stored output stands
    async with anonymous.get(again["output_url"]) as a, anonymous.get(first["output_url"]) as b:
        assert (a.status, await a.read()) == (200, await b.read())

    origin.versions[tag] = 2  # another image at the same URL: a new ETag
    changed = await run(http, stack, url, **settings)
    assert not changed["revalidated"] and origin.hits[f"{tag} 200"] == 2
    assert changed["bytes_in"] != first["bytes_in"]

    # The validators go with the request whose image recorded them, with what they point at:
    # the next request asks with those the earlier ones recorded ("v1"), and downloads.
    async with http.delete(f"{base(stack)}/api/requests/{changed['request_id']}") as r:
        assert r.status == 204
    after = await run(http, stack, url, **settings)
    assert not after["revalidated"] and after["bytes_in"] == changed["bytes_in"]
    assert origin.hits[f"{tag} 304"] == 1 and origin.hits[f"{tag} 200"] == 3


async def test_another_tenant_never_revalidates_with_our_validators(
    stack: Stack, http: aiohttp.ClientSession, origin: Origin
) -> None:
    tag = uuid.uuid4().hex[:8]
    url = origin.url(f"etag/{tag}/cat_chelsea_451x300.jpg/camera_gray_512.jpg")
    await run(http, stack, url)
    other_key = stack.create_key("other tenant", f"other-{tag}")
    headers = {"Authorization": f"Bearer {other_key}"}
    async with aiohttp.ClientSession(headers=headers) as other:
        theirs = await run(other, stack, url)
    assert not theirs["revalidated"] and not theirs["reused"]  # neither crosses tenants
    assert origin.hits.get(f"{tag} 304", 0) == 0 and origin.hits[f"{tag} 200"] == 2


async def test_the_same_source_and_settings_reuse_the_output_without_codec_work(
    stack: Stack, http: aiohttp.ClientSession, anonymous: aiohttp.ClientSession, origin: Origin
) -> None:
    url = origin.url("ok/cat_chelsea_451x300.jpg")
    widths = str(100 + uuid.uuid4().int % 300)  # settings no other test (or run) used
    first = await run(http, stack, url, widths=widths)
    again = await run(http, stack, url, widths=widths)
    assert (first["reused"], again["reused"]) == (False, True)
    for image in (first, again):
        assert image["status"] == "done"
    async with anonymous.get(first["output_url"]) as a, anonymous.get(again["output_url"]) as b:
        assert await a.read() == await b.read()
    assert [v["bytes"] for v in again["variants"]] == [v["bytes"] for v in first["variants"]]

    other_settings = await run(http, stack, url, widths=widths, quality="60")
    assert not other_settings["reused"]
    # The output reused is the first request's object: deleting that request keeps it for
    # the one still using it; once both are deleted, the next run compresses.
    async with http.delete(f"{base(stack)}/api/requests/{first['request_id']}") as r:
        assert r.status == 204
    for link in (again["output_url"], *(v["url"] for v in again["variants"])):
        async with anonymous.get(link) as kept:
            assert kept.status == 200, link
    async with http.delete(f"{base(stack)}/api/requests/{again['request_id']}") as r:
        assert r.status == 204
    async with anonymous.get(again["output_url"]) as gone:
        assert gone.status == 404
    after = await run(http, stack, url, widths=widths)
    assert not after["reused"]
    assert (await run(http, stack, url, widths=widths))["reused"]


async def test_a_request_counts_its_revalidated_and_reused_images(
    stack: Stack, http: aiohttp.ClientSession, origin: Origin
) -> None:
    tag = uuid.uuid4().hex[:8]
    urls = [
        origin.url(f"etag/{tag}-{n}/cat_chelsea_451x300.jpg/camera_gray_512.jpg") for n in (1, 2)
    ]
    rows = [["1", "Two", ",".join(urls)]]
    statuses = []
    for _ in range(2):
        async with await upload(http, stack, make_csv(rows), widths="77") as response:
            request_id = (await response.json())["request_id"]
        statuses.append(await wait_final(http, stack, request_id))
    first, again = (s["counts"] for s in statuses)
    assert (first["revalidated"], again["revalidated"], again["reused"]) == (0, 2, 2)
    async with http.get(f"{base(stack)}/api/requests", params={"limit": "1"}) as r:
        listed = (await r.json())["requests"][0]
    assert listed["counts"] == again
