"""fetcher.handle with in-memory records and store, against a real aiohttp origin on 127.0.0.1:
what travels with an original for the next request to ask with (recorded with the image once
it is done: shared/db/sources.py), and what the next fetch asks with."""

import io
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import Any, cast

import msgspec
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from PIL import Image

from fetcher.handler import handle
from shared.broker import Publisher
from shared.db import Database
from shared.events import FetchRequested
from shared.metadata import OriginalMeta
from shared.names import ORIGINALS_BUCKET
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


class Images:
    async def is_pending(self, image_id: str) -> bool:
        return True


class Store:
    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], bytes] = {}
        self.metadata: dict[tuple[str, str], OriginalMeta] = {}

    async def put(
        self, bucket: str, key: str, data: bytes, content_type: str, metadata: Mapping[str, str]
    ) -> str:
        self.objects[bucket, key] = data
        self.metadata[bucket, key] = OriginalMeta.parse(metadata, key)
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


def stored(clients: Clients, key: str) -> OriginalMeta:
    return cast(Store, clients.store).metadata[ORIGINALS_BUCKET, key]


async def test_the_origins_validators_travel_with_a_tenants_original(
    origin: tuple[Origin, str], clients: Clients
) -> None:
    site, url = origin
    last_modified = "Wed, 02 Dec 2026 10:00:00 GMT"
    site.answers = [(jpeg((200, 0, 0)), {"ETag": '"v1"', "Last-Modified": last_modified})] * 2
    await handle(FetchRequested("r1", "r1.0.0", url, 50, tenant="acme"), clients)
    meta = stored(clients, "r1/0-0.jpg")
    assert (meta.source_id, meta.origin_etag) == (source_id("acme", url), '"v1"')
    assert meta.origin_last_modified == last_modified

    await handle(FetchRequested("r2", "r2.0.0", url, 50), clients)  # no tenant: no reuse
    meta = stored(clients, "r2/0-0.jpg")
    assert (meta.source_id, meta.origin_etag, meta.origin_last_modified) == ("", None, None)


@pytest.mark.parametrize("etag", ['"caf\u00e9"', '"' + "v" * 300 + '"', '"tab\tin"'])
async def test_a_validator_that_cannot_travel_as_metadata_is_dropped(
    origin: tuple[Origin, str], clients: Clients, etag: str
) -> None:
    site, url = origin
    site.answers = [(jpeg((200, 0, 0)), {"ETag": etag})]
    await handle(FetchRequested("r1", "r1.0.0", url, 50, tenant="acme"), clients)
    assert stored(clients, "r1/0-0.jpg").origin_etag is None


async def test_the_next_fetch_asks_with_the_validators_of_the_urls_latest_image(
    origin: tuple[Origin, str], clients: Clients
) -> None:
    site, url = origin
    site.answers = [(jpeg((0, 0, 200)), {"ETag": '"v2"'}), (jpeg((0, 200, 0)), {})]
    sources = cast(Db, clients.db).sources
    latest = SourceRecord(
        id=source_id("acme", url),
        tenant="acme",
        etag='"v1"',
        original_key="r1/0-0.jpg",
        content_type="image/jpeg",
        extension="jpg",
        sha256="0" * 64,
        bytes=10,
        stored_at=datetime.now(UTC),
    )
    sources.by_id[latest.id] = latest
    await handle(FetchRequested("r2", "r2.0.0", url, 50, tenant="acme"), clients)
    # A source without validators (its origin sent none) asks unconditionally.
    sources.by_id[latest.id] = msgspec.structs.replace(latest, etag=None)
    await handle(FetchRequested("r3", "r3.0.0", url, 50, tenant="acme"), clients)
    assert site.if_none_match == ['"v1"', None]
    assert stored(clients, "r2/0-0.jpg").origin_etag == '"v2"'
