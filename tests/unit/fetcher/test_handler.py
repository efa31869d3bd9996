"""fetcher.handle with in-memory records and store, against a real aiohttp origin on 127.0.0.1:
what it remembers of a URL's answers for the next request to ask with."""

import io
from collections.abc import AsyncIterator, Mapping
from typing import Any, cast

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from PIL import Image

from fetcher.handler import handle
from shared.broker import Publisher
from shared.db import Database
from shared.events import FetchRequested
from shared.netguard import make_session
from shared.records import SourceRecord, source_id
from shared.runtime import Clients
from shared.settings import Settings
from shared.storage import ObjectStore


def jpeg(colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (16, 16), colour).save(out, "JPEG")
    return out.getvalue()


class Origin:
    """/image.jpg: the answers queued in `answers` (body, headers), one a request; the
    If-None-Match of each request is kept."""

    def __init__(self) -> None:
        self.answers: list[tuple[bytes, dict[str, str]]] = []
        self.if_none_match: list[str | None] = []

    async def image(self, request: web.Request) -> web.Response:
        self.if_none_match.append(request.headers.get("If-None-Match"))
        body, headers = self.answers.pop(0)
        return web.Response(body=body, content_type="image/jpeg", headers=headers)


class Sources:
    def __init__(self) -> None:
        self.by_id: dict[str, SourceRecord] = {}

    async def get(self, tenant: str, url: str) -> SourceRecord | None:
        return self.by_id.get(source_id(tenant, url))

    async def remember(self, source: SourceRecord) -> None:
        self.by_id[source.id] = source

    async def forget(self, tenant: str, url: str) -> None:
        self.by_id.pop(source_id(tenant, url), None)


class Images:
    async def is_pending(self, image_id: str) -> bool:
        return True


class Store:
    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], bytes] = {}

    async def put(
        self, bucket: str, key: str, data: bytes, content_type: str, metadata: Mapping[str, str]
    ) -> str:
        self.objects[bucket, key] = data
        return "etag"


class Db:
    def __init__(self) -> None:
        self.sources = Sources()
        self.images = Images()


@pytest.fixture
async def origin() -> AsyncIterator[tuple[Origin, str]]:
    found = Origin()
    app = web.Application()
    app.router.add_get("/image.jpg", found.image)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield found, str(server.make_url("/image.jpg"))
    await server.close()


@pytest.fixture
async def clients() -> AsyncIterator[Clients]:
    settings = Settings.from_env({"FETCH_ALLOW_CIDRS": "127.0.0.0/8"}, require=())
    async with make_session(settings.fetch_allow, 5.0) as http:
        yield Clients(
            settings=settings,
            store=cast(ObjectStore, Store()),
            db=cast(Database, Db()),
            connection=cast(Any, None),  # nothing here publishes or consumes
            channel=cast(Any, None),
            publisher=cast(Publisher, None),
            http=http,
        )


async def test_an_answer_without_validators_forgets_the_ones_before(
    origin: tuple[Origin, str], clients: Clients
) -> None:
    site, url = origin
    site.answers = [(jpeg((200, 0, 0)), {"ETag": '"v1"'}), (jpeg((0, 0, 200)), {})]
    sources = cast(Db, clients.db).sources
    await handle(FetchRequested("r1", "r1.0.0", url, 50, tenant="acme"), clients)
    assert (await sources.get("acme", url)) is not None

    await handle(FetchRequested("r2", "r2.0.0", url, 50, tenant="acme"), clients)
    # "v1" named image 1: sent again, a 304 would make image 1 stand for image 2.
    assert site.if_none_match == [None, '"v1"']
    assert await sources.get("acme", url) is None


async def test_an_answer_with_new_validators_replaces_the_ones_before(
    origin: tuple[Origin, str], clients: Clients
) -> None:
    site, url = origin
    site.answers = [(jpeg((200, 0, 0)), {"ETag": '"v1"'}), (jpeg((0, 0, 200)), {"ETag": '"v2"'})]
    sources = cast(Db, clients.db).sources
    await handle(FetchRequested("r1", "r1.0.0", url, 50, tenant="acme"), clients)
    await handle(FetchRequested("r2", "r2.0.0", url, 50, tenant="acme"), clients)
    known = await sources.get("acme", url)
    assert known is not None and (known.etag, known.original_key) == ('"v2"', "r2/0-0.jpg")
