"""Listing requests, paging a request's products, and cheap polling with ETags."""

import aiohttp
import pytest

from deploy.local.stack import Stack
from tests.integration.client import base, image_url, make_csv, upload, wait_final

pytestmark = pytest.mark.integration


async def test_status_pages_products_and_answers_304_when_unchanged(
    stack: Stack, http: aiohttp.ClientSession
) -> None:
    url = image_url(stack, "cat_chelsea_451x300.jpg")
    csv = make_csv([[str(n), f"Product {n}", url] for n in range(1, 6)])
    request_id = (await (await upload(http, stack, csv)).json())["request_id"]
    await wait_final(http, stack, request_id)

    status_url = f"{base(stack)}/api/status/{request_id}"
    pages, offset = [], 0
    while offset is not None:
        async with http.get(status_url, params={"offset": offset, "limit": 2}) as response:
            body = await response.json()
        pages.append([p["product"] for p in body["products"]])
        offset = body["products_page"]["next_offset"]
    assert pages == [["Product 1", "Product 2"], ["Product 3", "Product 4"], ["Product 5"]]

    async with http.get(status_url) as response:
        tag = response.headers["ETag"]
    async with http.get(status_url, headers={"If-None-Match": tag}) as response:
        assert response.status == 304
    async with http.get(status_url, params={"limit": "0"}) as response:
        assert response.status == 400
        assert (await response.json())["error"] == "limit must be from 1 to 5000"


async def test_requests_are_listed_newest_first_in_pages(
    stack: Stack, http: aiohttp.ClientSession
) -> None:
    csv = make_csv([["1", "Listed", image_url(stack, "camera_gray_512.jpg")]])
    made = [(await (await upload(http, stack, csv)).json())["request_id"] for _ in range(3)]

    async with http.get(f"{base(stack)}/api/requests", params={"limit": 2}) as response:
        first = await response.json()
    assert [r["request_id"] for r in first["requests"]] == made[::-1][:2]
    params = {"limit": 2, "before": first["next_before"]}
    async with http.get(f"{base(stack)}/api/requests", params=params) as response:
        second = await response.json()
    assert second["requests"][0]["request_id"] == made[0]
