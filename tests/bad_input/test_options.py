"""Options no encoding can meet (the image fails, saying why) and bad options on a CSV dropped
straight into the inbox (the request fails with the reason, the object is kept)."""

import asyncio
import io
import re
import uuid

import aiohttp
import pytest
from minio import Minio
from PIL import Image

from deploy.local.stack import Stack
from shared.names import INBOX_BUCKET
from tests.bad_input.cases import DROPPED, HEADER, UNMET, Dropped, Unmet, csv_bytes
from tests.bad_input.checks import compressed_keys, process
from tests.bad_input.servers import Servers
from tests.integration.client import base, wait_final

pytestmark = pytest.mark.bad_input


def pattern(reason: str) -> str:
    return "^" + re.escape(reason).replace(re.escape("{n}"), r"[0-9]+") + "$"


@pytest.mark.parametrize("case", UNMET, ids=[c.id for c in UNMET])
async def test_unmet_options_fail_the_image(
    case: Unmet, stack: Stack, http: aiohttp.ClientSession, servers: Servers, store: Minio
) -> None:
    rows = [["1", case.id, servers.url(f"{{origin}}/img/{case.image}")]]
    status = await process(http, stack, rows, **dict(case.fields))
    assert status["status"] == "completed_with_errors", status
    (image,) = status["products"][0]["images"]
    assert image["status"] == "failed"
    assert re.match(pattern(case.reason), image["error"]), image["error"]
    assert not compressed_keys(store, status["request_id"])


@pytest.mark.parametrize("case", DROPPED, ids=[c.id for c in DROPPED])
async def test_bad_options_of_a_dropped_csv_fail_its_request(
    case: Dropped, stack: Stack, http: aiohttp.ClientSession, servers: Servers, store: Minio
) -> None:
    data = csv_bytes([["1", case.id, servers.url("{origin}/img/good.jpg")]], HEADER)
    key = f"bad-input/drops/{case.id}-{uuid.uuid4().hex}.csv"
    store.put_object(INBOX_BUCKET, key, io.BytesIO(data), len(data), metadata=dict(case.metadata))

    async def found() -> str | None:
        async with http.get(f"{base(stack)}/api/requests", params={"inbox_key": key}) as r:
            listed = (await r.json())["requests"]
        return str(listed[0]["request_id"]) if listed else None

    request_id = None
    for _ in range(120):
        if request_id := await found():
            break
        await asyncio.sleep(0.25)
    assert request_id, "the dropped CSV's request"
    status = await wait_final(http, stack, request_id)
    assert (status["status"], status["error"]) == ("failed", case.error)
    assert store.stat_object(INBOX_BUCKET, key).size == len(data)


async def test_an_animated_gif_stays_animated_when_asked(
    stack: Stack, http: aiohttp.ClientSession, anonymous: aiohttp.ClientSession, servers: Servers
) -> None:
    """The other side of animation-10000-frames: a small animation kept through the stack."""
    rows = [["1", "animated", servers.url("{origin}/img/animated.gif")]]
    status = await process(http, stack, rows, animation="keep", format="webp")
    assert (status["status"], status["animation"]) == ("completed", "keep"), status
    (image,) = status["products"][0]["images"]
    assert (image["status"], image["frames"]) == ("done", 2)
    async with anonymous.get(image["output_url"]) as got:
        with Image.open(io.BytesIO(await got.read())) as out:
            assert (out.format, out.n_frames) == ("WEBP", 2)
