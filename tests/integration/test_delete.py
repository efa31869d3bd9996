"""DELETE /api/requests/{id} on the real local stack (issue 14): what goes, what stays, who may.

A finished request's originals, outputs and variants, its stored CSV and every record of it
go; its links stop working; asking again, or as another tenant, answers 404; a request still
processing answers 409 and keeps everything. A CSV dropped again at the same key keeps the
object while the other request made from it remains.
"""

import asyncio
import io
import uuid
from typing import Any

import aiohttp
import pytest
from pymongo.database import Database

from deploy.local.stack import Stack
from shared.names import COMPRESSED_BUCKET, INBOX_BUCKET, ORIGINALS_BUCKET
from tests.integration.client import base, image_url, make_csv, s3, upload, wait_final, wait_for
from tests.integration.conftest import TENANT, Origin

pytestmark = pytest.mark.integration


def objects(stack: Stack, bucket: str, prefix: str) -> list[str]:
    return [o.object_name for o in s3(stack).list_objects(bucket, prefix, recursive=True)]


async def finished(http: aiohttp.ClientSession, stack: Stack, **fields: str) -> dict[str, Any]:
    rows = [["1", "Cat", image_url(stack, "cat_chelsea_451x300.jpg")]]
    async with await upload(http, stack, make_csv(rows), **fields) as response:
        assert response.status == 202, await response.text()
        request_id = (await response.json())["request_id"]
    return await wait_final(http, stack, request_id)


async def delete(http: aiohttp.ClientSession, stack: Stack, request_id: str) -> int:
    async with http.delete(f"{base(stack)}/api/requests/{request_id}") as response:
        return response.status


async def test_a_finished_request_is_removed_with_everything_it_stored(
    stack: Stack,
    http: aiohttp.ClientSession,
    anonymous: aiohttp.ClientSession,
    mongo: Database[dict[str, Any]],
) -> None:
    status = await finished(http, stack, widths="100")
    request_id = status["request_id"]
    (image,) = status["products"][0]["images"]
    assert objects(stack, ORIGINALS_BUCKET, f"{request_id}/")
    assert len(objects(stack, COMPRESSED_BUCKET, f"{request_id}/")) == 2  # output + variant
    csv_key = mongo["requests"].find_one({"_id": request_id})["source"]["key"]  # type: ignore[index]

    other = {"Authorization": f"Bearer {stack.create_key('deleter', 'another-tenant')}"}
    async with anonymous.delete(f"{base(stack)}/api/requests/{request_id}", headers=other) as r:
        assert r.status == 404  # as if it did not exist
    assert await delete(http, stack, request_id) == 204

    assert objects(stack, ORIGINALS_BUCKET, f"{request_id}/") == []
    assert objects(stack, COMPRESSED_BUCKET, f"{request_id}/") == []
    assert csv_key not in objects(stack, INBOX_BUCKET, csv_key)
    for collection in ("requests", "images", "rows"):
        field = "_id" if collection == "requests" else "request_id"
        assert mongo[collection].count_documents({field: request_id}) == 0, collection
    async with http.get(f"{base(stack)}/api/status/{request_id}") as r:
        assert r.status == 404
    async with anonymous.get(image["output_url"]) as r:
        assert r.status == 404  # the link no longer opens anything
    assert await delete(http, stack, request_id) == 404  # nothing left to delete


async def test_an_idempotency_key_of_a_deleted_request_makes_a_new_one(
    stack: Stack, http: aiohttp.ClientSession
) -> None:
    key = {"Idempotency-Key": f"delete-{uuid.uuid4().hex}"}
    rows = [["1", "Cat", image_url(stack, "camera_gray_512.jpg")]]
    async with await upload(http, stack, make_csv(rows), headers=key) as response:
        first = (await response.json())["request_id"]
    await wait_final(http, stack, first)
    assert await delete(http, stack, first) == 204
    async with await upload(http, stack, make_csv(rows), headers=key) as response:
        assert response.status == 202
        assert (await response.json())["request_id"] != first


async def test_a_request_still_processing_is_not_deleted(
    stack: Stack, http: aiohttp.ClientSession, origin: Origin
) -> None:
    key = uuid.uuid4().hex
    rows = [["1", "Slow", origin.url(f"slow/4000/{key}/cat_chelsea_451x300.jpg")]]
    async with await upload(http, stack, make_csv(rows)) as response:
        request_id = (await response.json())["request_id"]
    await asyncio.sleep(0.5)
    async with http.delete(f"{base(stack)}/api/requests/{request_id}") as r:
        assert r.status == 409
        assert "delete it when it is done" in (await r.json())["error"]
    status = await wait_final(http, stack, request_id)
    assert status["counts"]["done"] == 1  # nothing was taken away from under it
    assert await delete(http, stack, request_id) == 204


async def test_a_csv_dropped_again_at_the_same_key_stays_for_the_other_request(
    stack: Stack, http: aiohttp.ClientSession
) -> None:
    key = f"{TENANT}/drops/twice-{uuid.uuid4().hex}.csv"
    ids = []
    for n in (1, 2):  # a new version of the object: a new request
        data = make_csv([[str(n), "Cat", image_url(stack, "cat_chelsea_451x300.jpg")]])
        s3(stack).put_object(INBOX_BUCKET, key, io.BytesIO(data), len(data))

        async def listed(n: int = n) -> list[dict[str, Any]] | None:
            async with http.get(f"{base(stack)}/api/requests", params={"inbox_key": key}) as r:
                found = list((await r.json())["requests"])
            return found if len(found) == n else None

        ids.append((await wait_for(listed, "the dropped CSV's request"))[0]["request_id"])
        await wait_final(http, stack, ids[-1])
    assert await delete(http, stack, ids[0]) == 204
    assert objects(stack, INBOX_BUCKET, key) == [key]  # the other request's CSV
    assert await delete(http, stack, ids[1]) == 204
    assert objects(stack, INBOX_BUCKET, key) == []
