"""fetcher.batch with in-memory records and store, against a real aiohttp origin on 127.0.0.1:
a batch's fetches run side by side within the lane's bound, and only the ones that failed
transiently are retried, each with its own reason."""

import asyncio
import io
from collections.abc import AsyncIterator, Mapping
from typing import Any, cast

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from PIL import Image

from fetcher.batch import Lane, fetch_all, give_up
from shared.broker import Publisher
from shared.consumer import GivenUp
from shared.db import Database
from shared.errors import RetryPart
from shared.events import FetchBatch, FetchRequested, ImageFailed
from shared.netguard import make_session
from shared.runtime import Clients
from shared.settings import Settings
from shared.storage import ObjectStore


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (16, 16), (0, 120, 0)).save(out, "JPEG")
    return out.getvalue()


class Origin:
    """/ok/<n>.jpg an image, /busy/<n>.jpg 503 (Retry-After: 7), /gone/<n>.jpg 404; counts
    the requests it answers at once."""

    def __init__(self) -> None:
        self.now = self.most = 0

    async def answer(self, request: web.Request) -> web.Response:
        self.now += 1
        self.most = max(self.most, self.now)
        await asyncio.sleep(0.01)
        self.now -= 1
        kind = request.match_info["kind"]
        if kind == "busy":
            return web.Response(status=503, headers={"Retry-After": "7"})
        if kind == "gone":
            return web.Response(status=404)
        return web.Response(body=jpeg(), content_type="image/jpeg")


class Recorder:
    def __init__(self) -> None:
        self.sent: list[object] = []

    async def publish(self, routing_key: str, message: object) -> None:
        self.sent.append(message)


class Store:
    def __init__(self) -> None:
        self.keys: list[str] = []

    async def put(
        self, bucket: str, key: str, data: bytes, content_type: str, metadata: Mapping[str, str]
    ) -> str:
        self.keys.append(key)
        return "etag"


class Images:
    async def is_pending(self, image_id: str) -> bool:
        return True


class Db:
    images = Images()


@pytest.fixture
async def origin() -> AsyncIterator[tuple[Origin, str]]:
    found = Origin()
    app = web.Application()
    app.router.add_get("/{kind}/{n}.jpg", found.answer)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield found, str(server.make_url("/"))
    await server.close()


@pytest.fixture
async def clients() -> AsyncIterator[Clients]:
    env = {"FETCH_ALLOW_CIDRS": "127.0.0.0/8", "PREFETCH": "4"}
    settings = Settings.from_env(env, require=())
    async with make_session(settings.fetch_allow, 5.0) as http:
        yield Clients(
            settings=settings,
            store=cast(ObjectStore, Store()),
            db=cast(Database, Db()),
            connection=cast(Any, None),
            channel=cast(Any, None),
            publisher=cast(Publisher, Recorder()),
            http=http,
        )


def fetches(base: str, *kinds: str) -> tuple[FetchRequested, ...]:
    return tuple(
        FetchRequested("r", f"r.{n}.0", f"{base}{kind}/{n}.jpg", 50) for n, kind in enumerate(kinds)
    )


async def test_only_the_transient_failures_are_retried_each_with_its_reason(
    origin: tuple[Origin, str], clients: Clients
) -> None:
    _, base = origin
    batch = FetchBatch(fetches(base, "ok", "busy", "gone", "busy", "ok"))
    with pytest.raises(RetryPart) as raised:
        await fetch_all(batch, Lane(), clients)

    rest = FetchBatch.decode(raised.value.body)
    assert [f.image_id for f in rest.fetches] == ["r.1.0", "r.3.0"]
    assert rest.errors == ("HTTP 503 Service Unavailable",) * 2
    assert raised.value.delay == 7.0  # the origin's Retry-After
    assert str(raised.value) == "HTTP 503 Service Unavailable"  # the reason both gave
    assert sorted(cast(Store, clients.store).keys) == ["r/0-0.jpg", "r/4-0.jpg"]
    sent = cast(Recorder, clients.publisher).sent
    assert sent == [ImageFailed("r", "r.2.0", "HTTP 404 Not Found")]  # recorded, not retried


async def test_a_retry_of_fetches_that_failed_differently_says_so(
    origin: tuple[Origin, str], clients: Clients
) -> None:
    _, base = origin
    refused = FetchRequested("r", "r.9.0", "http://127.0.0.1:9/x.jpg", 50)
    batch = FetchBatch((*fetches(base, "busy"), refused))
    with pytest.raises(RetryPart) as raised:
        await fetch_all(batch, Lane(), clients)
    rest = FetchBatch.decode(raised.value.body)
    assert rest.errors[0] == "HTTP 503 Service Unavailable"
    assert rest.errors[1] != rest.errors[0]
    assert str(raised.value) == "2 of 2 fetches failed: HTTP 503 Service Unavailable, …"


async def test_a_batch_that_all_worked_returns(
    origin: tuple[Origin, str], clients: Clients
) -> None:
    _, base = origin
    await fetch_all(FetchBatch(fetches(base, "ok", "ok")), Lane(), clients)
    assert len(cast(Store, clients.store).keys) == 2


async def test_a_lane_fetches_at_most_prefetch_images_at_once_across_batches(
    origin: tuple[Origin, str], clients: Clients
) -> None:
    site, base = origin
    lane = Lane()
    batches = [FetchBatch(fetches(base, *["ok"] * 6)) for _ in range(3)]
    await asyncio.gather(*(fetch_all(b, lane, clients) for b in batches))
    assert site.most == clients.settings.prefetch == 4


async def test_a_batch_given_up_records_each_fetch_with_its_own_reason(clients: Clients) -> None:
    batch = FetchBatch(fetches("http://x/", "a", "b"), ("HTTP 503 Service Unavailable", ""))
    await give_up(
        batch, GivenUp("2 of 2 fetches failed: HTTP 503 Service Unavailable, …", 5), clients
    )
    assert cast(Recorder, clients.publisher).sent == [
        ImageFailed("r", "r.0.0", "HTTP 503 Service Unavailable (after 5 attempts)"),
        ImageFailed(
            "r",
            "r.1.0",
            "2 of 2 fetches failed: HTTP 503 Service Unavailable, … (after 5 attempts)",
        ),
    ]
