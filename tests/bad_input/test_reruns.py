"""Re-runs against a misbehaving origin (issue 14): the same URL asked again by the same tenant.

Each case serves pictures made for it at /versioned/TAG (servers.py), so no other case's
output can be reused for it; the last request's output is decoded and compared with the
picture the case says it shows (cases.RERUNS), and the origin's hits are counted.
"""

import hashlib
import io
import uuid
from typing import Any

import aiohttp
import pytest
from minio import Minio
from PIL import Image
from pymongo.database import Database

from deploy.local.stack import Stack
from shared.names import COMPRESSED_BUCKET, ORIGINALS_BUCKET
from shared.records import source_id
from tests.bad_input.cases import RERUNS, Rerun
from tests.bad_input.checks import (
    assert_keeps_serving,
    compressed_keys,
    images_by_product,
    original_keys,
    process,
)
from tests.bad_input.conftest import TENANT
from tests.bad_input.servers import NotModified, Servers, Version
from tests.integration.client import base

pytestmark = pytest.mark.bad_input
CASES = {case.id: case for case in RERUNS}
# Image 1 and image 2: other sizes and colours, so an output shows which one it was made from.
PICTURES = {1: ((96, 64), (200, 40, 40)), 2: ((64, 96), (40, 40, 200))}
LAST_MODIFIED = "Tue, 01 Dec 2026 10:00:00 GMT"
LATER = "Wed, 02 Dec 2026 10:00:00 GMT"


def picture(n: int, tag: str) -> bytes:
    """Image `n` as a PNG whose bytes are the case's own: a corner pixel comes from the tag."""
    size, colour = PICTURES[n]
    image = Image.new("RGB", size, colour)
    image.putpixel((0, 0), tuple(hashlib.sha256(tag.encode()).digest()[:3]))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def new_tag() -> str:
    return uuid.uuid4().hex[:12]


def versioned(servers: Servers, tag: str) -> str:
    return f"{servers.origin.base}/versioned/{tag}"


async def ask(http: aiohttp.ClientSession, stack: Stack, url: str) -> dict[str, Any]:
    """One request of the one URL, run to its end: its image, with the request's id."""
    final = await process(http, stack, [["1", "Rerun", url]])
    return {**images_by_product(final)["Rerun"], "request_id": final["request_id"]}


async def check_shows(anonymous: aiohttp.ClientSession, image: dict[str, Any], n: int) -> None:
    """The image's output decodes to picture `n`: its size, and its colour within JPEG's loss."""
    async with anonymous.get(image["output_url"]) as response:
        assert response.status == 200
        data = await response.read()
    out = Image.open(io.BytesIO(data)).convert("RGB")
    size, colour = PICTURES[n]
    assert (out.size, (image["width"], image["height"])) == (size, size)
    centre = out.getpixel((size[0] // 2, size[1] // 2))
    assert isinstance(centre, tuple)
    assert all(abs(got - want) <= 12 for got, want in zip(centre, colour, strict=True)), centre


async def check_last(
    case: Rerun,
    image: dict[str, Any],
    servers: Servers,
    anonymous: aiohttp.ClientSession,
    shows: int | None,
    *tags: str,
) -> None:
    """The last request's image is what `case` says, and the origin got `case.hits` requests
    for the case's URLs (`tags`)."""
    assert (image["status"], image["error"]) == (case.status, case.reason)
    if shows is not None:
        assert (image["revalidated"], image["reused"]) == (case.revalidated, case.reused)
        await check_shows(anonymous, image, shows)
    else:  # a failed image has no output to have revalidated or reused
        assert (image["revalidated"], image["reused"], image["output_url"]) == (None, None, None)
    assert sum(servers.origin.hits(f"/versioned/{tag}") for tag in tags) == case.hits


async def test_weak_etag_is_sent_back_as_it_came_and_its_304_trusted(
    stack: Stack, http: aiohttp.ClientSession, anonymous: aiohttp.ClientSession, servers: Servers
) -> None:
    tag = new_tag()
    servers.origin.serve(tag, Version(picture(1, tag), etag='W/"v1"'))
    first = await ask(http, stack, versioned(servers, tag))
    assert (first["status"], first["revalidated"]) == ("done", False)
    last = await ask(http, stack, versioned(servers, tag))
    await check_last(CASES["rerun-weak-etag"], last, servers, anonymous, 1, tag)
    assert [a.if_none_match for a in servers.origin.asked(tag)] == [None, 'W/"v1"']
    assert [a.status for a in servers.origin.asked(tag)] == [200, 304]


async def test_a_new_weak_etag_is_downloaded(
    stack: Stack, http: aiohttp.ClientSession, anonymous: aiohttp.ClientSession, servers: Servers
) -> None:
    tag = new_tag()
    servers.origin.serve(tag, Version(picture(1, tag), etag='W/"v1"'))
    await ask(http, stack, versioned(servers, tag))
    servers.origin.serve(tag, Version(picture(2, tag), etag='W/"v2"'))
    last = await ask(http, stack, versioned(servers, tag))
    await check_last(CASES["rerun-weak-etag-changed"], last, servers, anonymous, 2, tag)


async def test_an_etag_kept_across_a_change_and_answered_304_keeps_the_earlier_output(
    stack: Stack, http: aiohttp.ClientSession, anonymous: aiohttp.ClientSession, servers: Servers
) -> None:
    tag = new_tag()
    servers.origin.serve(tag, Version(picture(1, tag), etag='"same"'))
    await ask(http, stack, versioned(servers, tag))
    servers.origin.serve(tag, Version(picture(2, tag), etag='"same"'))
    last = await ask(http, stack, versioned(servers, tag))
    # What the origin claims is current: the service has no way to know better.
    await check_last(CASES["rerun-same-etag-304"], last, servers, anonymous, 1, tag)


async def test_an_etag_kept_across_a_change_with_a_200_compresses_the_new_bytes(
    stack: Stack, http: aiohttp.ClientSession, anonymous: aiohttp.ClientSession, servers: Servers
) -> None:
    tag = new_tag()
    servers.origin.serve(tag, Version(picture(1, tag), etag='"same"'))
    await ask(http, stack, versioned(servers, tag))
    ignoring = Version(picture(2, tag), etag='"same"', not_modified=NotModified.NEVER)
    servers.origin.serve(tag, ignoring)
    last = await ask(http, stack, versioned(servers, tag))
    await check_last(CASES["rerun-same-etag-200"], last, servers, anonymous, 2, tag)
    assert [a.if_none_match for a in servers.origin.asked(tag)] == [None, '"same"']


async def test_a_304_to_an_unconditional_request_fails_the_image_and_stores_nothing(
    stack: Stack,
    http: aiohttp.ClientSession,
    anonymous: aiohttp.ClientSession,
    servers: Servers,
    store: Minio,
    mongo: Database[dict[str, Any]],
) -> None:
    tag = new_tag()
    servers.origin.serve(
        tag, Version(picture(1, tag), etag='"v1"', not_modified=NotModified.ALWAYS)
    )
    case = CASES["rerun-304-unconditional"]
    first = await ask(http, stack, versioned(servers, tag))
    assert (first["status"], first["error"]) == (case.status, case.reason)
    last = await ask(http, stack, versioned(servers, tag))
    await check_last(case, last, servers, anonymous, None, tag)
    # Nothing was remembered of the first answer: the second request was not conditional.
    assert [(a.if_none_match, a.status) for a in servers.origin.asked(tag)] == [(None, 304)] * 2
    for image in (first, last):
        assert original_keys(store, image["request_id"]) == set()
        assert compressed_keys(store, image["request_id"]) == set()
    made_from = source_id(TENANT, versioned(servers, tag))
    assert mongo["images"].count_documents({"source._id": made_from}) == 0


async def test_a_304_after_the_original_expired_reuses_the_output(
    stack: Stack,
    http: aiohttp.ClientSession,
    anonymous: aiohttp.ClientSession,
    servers: Servers,
    store: Minio,
) -> None:
    tag = new_tag()
    servers.origin.serve(tag, Version(picture(1, tag), etag='"v1"'))
    first = await ask(http, stack, versioned(servers, tag))
    (original,) = original_keys(store, first["request_id"])
    store.remove_object(ORIGINALS_BUCKET, original)  # as the store's own expiry would
    last = await ask(http, stack, versioned(servers, tag))
    await check_last(CASES["rerun-304-original-gone"], last, servers, anonymous, 1, tag)


async def test_a_rerun_after_the_request_was_deleted_asks_unconditionally(
    stack: Stack, http: aiohttp.ClientSession, anonymous: aiohttp.ClientSession, servers: Servers
) -> None:
    tag = new_tag()
    servers.origin.serve(tag, Version(picture(1, tag), etag='"v1"'))
    first = await ask(http, stack, versioned(servers, tag))
    async with http.delete(f"{base(stack)}/api/requests/{first['request_id']}") as response:
        assert response.status == 204
    last = await ask(http, stack, versioned(servers, tag))
    await check_last(CASES["rerun-304-all-gone"], last, servers, anonymous, 1, tag)
    asked = [(a.if_none_match, a.status) for a in servers.origin.asked(tag)]
    assert asked == [(None, 200), (None, 200)]  # its validators went with it


async def test_a_304_after_the_output_expired_compresses_the_stored_original(
    stack: Stack,
    http: aiohttp.ClientSession,
    anonymous: aiohttp.ClientSession,
    servers: Servers,
    store: Minio,
) -> None:
    tag = new_tag()
    servers.origin.serve(tag, Version(picture(1, tag), etag='"v1"'))
    first = await ask(http, stack, versioned(servers, tag))
    (output,) = compressed_keys(store, first["request_id"])
    store.remove_object(COMPRESSED_BUCKET, output)  # as the store's own expiry would
    last = await ask(http, stack, versioned(servers, tag))
    await check_last(CASES["rerun-304-output-gone"], last, servers, anonymous, 1, tag)
    assert compressed_keys(store, last["request_id"])  # a new output, under the new request


async def test_two_urls_with_the_same_validators_keep_their_own_images(
    stack: Stack, http: aiohttp.ClientSession, anonymous: aiohttp.ClientSession, servers: Servers
) -> None:
    tags = {1: new_tag(), 2: new_tag()}
    for n, tag in tags.items():
        version = Version(picture(n, tag), etag='"one"', last_modified=LAST_MODIFIED)
        servers.origin.serve(tag, version)
    for tag in tags.values():
        await ask(http, stack, versioned(servers, tag))
    case = CASES["rerun-same-validators-two-urls"]
    for n, tag in tags.items():
        last = await ask(http, stack, versioned(servers, tag))
        assert (last["revalidated"], last["reused"]) == (case.revalidated, case.reused)
        await check_shows(anonymous, last, n)
    assert sum(servers.origin.hits(f"/versioned/{tag}") for tag in tags.values()) == case.hits


async def test_a_result_claimed_for_other_bytes_is_not_reused(
    stack: Stack,
    http: aiohttp.ClientSession,
    anonymous: aiohttp.ClientSession,
    servers: Servers,
    store: Minio,
    mongo: Database[dict[str, Any]],
) -> None:
    tag, other = new_tag(), new_tag()
    servers.origin.serve(tag, Version(picture(1, tag), etag='"v1"'))
    servers.origin.serve(other, Version(picture(2, other)))
    await ask(http, stack, versioned(servers, tag))
    theirs = await ask(http, stack, versioned(servers, other))
    (their_output,) = compressed_keys(store, theirs["request_id"])
    ours = hashlib.sha256(picture(1, tag)).hexdigest()
    # The result is read from the image that made it (shared/db/results.py).
    claimed = mongo["images"].update_one(
        {"source.tenant": TENANT, "source.sha256": ours, "status": "done"},
        {
            "$set": {
                "compressed_key": their_output,
                "width": theirs["width"],
                "height": theirs["height"],
                "bytes_in": len(picture(2, other)),
            }
        },
    )
    assert claimed.modified_count == 1
    last = await ask(http, stack, versioned(servers, tag))
    await check_last(CASES["rerun-tampered-result"], last, servers, anonymous, 1, tag)


async def test_an_answer_without_validators_makes_the_next_request_unconditional(
    stack: Stack, http: aiohttp.ClientSession, anonymous: aiohttp.ClientSession, servers: Servers
) -> None:
    tag = new_tag()
    servers.origin.serve(tag, Version(picture(1, tag), etag='"v1"'))
    await ask(http, stack, versioned(servers, tag))
    servers.origin.serve(tag, Version(picture(2, tag)))
    second = await ask(http, stack, versioned(servers, tag))
    await check_shows(anonymous, second, 2)
    # Were "v1" still sent, this 304 would stand for image 1, the picture the origin dropped.
    servers.origin.serve(tag, Version(picture(2, tag), not_modified=NotModified.CONDITIONAL))
    last = await ask(http, stack, versioned(servers, tag))
    await check_last(CASES["rerun-etag-then-none"], last, servers, anonymous, 2, tag)
    asked = [(a.if_none_match, a.status) for a in servers.origin.asked(tag)]
    assert asked == [(None, 200), ('"v1"', 200), (None, 200)]


async def test_a_last_modified_alone_revalidates_until_it_changes(
    stack: Stack, http: aiohttp.ClientSession, anonymous: aiohttp.ClientSession, servers: Servers
) -> None:
    tag = new_tag()
    servers.origin.serve(tag, Version(picture(1, tag), last_modified=LAST_MODIFIED))
    await ask(http, stack, versioned(servers, tag))
    second = await ask(http, stack, versioned(servers, tag))
    assert (second["revalidated"], second["reused"]) == (True, True)
    await check_shows(anonymous, second, 1)
    servers.origin.serve(tag, Version(picture(2, tag), last_modified=LATER))
    last = await ask(http, stack, versioned(servers, tag))
    await check_last(CASES["rerun-last-modified-only"], last, servers, anonymous, 2, tag)
    asked = [(a.if_none_match, a.if_modified_since, a.status) for a in servers.origin.asked(tag)]
    assert asked == [(None, None, 200), (None, LAST_MODIFIED, 304), (None, LAST_MODIFIED, 200)]


async def test_keeps_serving(stack: Stack, http: aiohttp.ClientSession, servers: Servers) -> None:
    await assert_keeps_serving(stack, http, servers)
