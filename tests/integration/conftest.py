"""The real local stack, started once per test session on free ports and its own vhost."""

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from pymongo import MongoClient
from pymongo.database import Database

from deploy.local.stack import Stack
from deploy.local.testing import running_stack

RETRY_DELAYS_S = "0.2,0.4,0.8"  # 4 attempts in all
STUCK_AFTER_S = 5  # well above the retries' 1.4 s, so a slow retry is never re-issued
BULK_REQUEST_IMAGES = 40  # requests this big take the fetcher's bulk lane
SAMPLE_IMAGES = Path(__file__).resolve().parents[2] / "sample-data" / "images"


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    # Short backoff and a watchful reconciler, so these tests take seconds, not minutes.
    extra_env = {
        "RETRY_DELAYS_S": RETRY_DELAYS_S,
        "RECONCILE_INTERVAL_S": "0.5",
        "STUCK_AFTER_S": str(STUCK_AFTER_S),
        "BULK_REQUEST_IMAGES": str(BULK_REQUEST_IMAGES),
    }
    with running_stack(tmp_path_factory.mktemp("stack"), "imgpipe-test", extra_env) as stack:
        yield stack


@dataclass(frozen=True)
class Delivery:
    body: bytes
    headers: dict[str, str]
    answered: int

    def json(self) -> Any:
        return orjson.loads(self.body)


class Webhooks:
    """A local webhook receiver that records every POST it gets.

    POSTs to /hook are answered 204; to /fail/N/KEY, 500 the first N times for KEY.
    """

    def __init__(self) -> None:
        self.received: list[Delivery] = []
        self.failures: dict[str, int] = {}
        self.url = ""
        self.base = ""

    def for_request(self, request_id: str) -> list[Delivery]:
        return [d for d in self.received if d.json()["request_id"] == request_id]


@pytest.fixture(scope="session")
async def webhooks() -> AsyncIterator[Webhooks]:
    hooks = Webhooks()

    async def receive(request: web.Request) -> web.Response:
        status = 204
        if "n" in request.match_info:
            key = request.match_info["key"]
            hooks.failures[key] = hooks.failures.get(key, 0) + 1
            if hooks.failures[key] <= int(request.match_info["n"]):
                status = 500
        hooks.received.append(Delivery(await request.read(), dict(request.headers), status))
        return web.Response(status=status)

    app = web.Application()
    app.router.add_post("/hook", receive)
    app.router.add_post("/fail/{n}/{key}", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    hooks.url = f"http://127.0.0.1:{port}/hook"
    hooks.base = f"http://127.0.0.1:{port}"
    yield hooks
    await runner.cleanup()


TENANT = "tests"


@pytest.fixture(scope="session")
def api_key(stack: Stack) -> str:
    """A key of the tests' own tenant, made with the admin CLI."""
    return stack.create_key("integration tests", TENANT)


@pytest.fixture(scope="session")
async def http(api_key: str) -> AsyncIterator[aiohttp.ClientSession]:
    """A client of the gateway, authenticated as the tests' tenant."""
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {api_key}"}) as session:
        yield session


@pytest.fixture(scope="session")
async def anonymous() -> AsyncIterator[aiohttp.ClientSession]:
    """A client without credentials (presigned links, public pages)."""
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture(scope="session")
def sample_data() -> Path:
    return Path(__file__).resolve().parents[2] / "sample-data"


class Origin:
    """A local image server that misbehaves on request, for retry and failure tests.

    /ok/NAME serves a sample image (/unique/KEY/NAME: with bytes of its own for each KEY);
    /fail/N/KEY/NAME answers 503 the first N times for KEY, then serves NAME;
    /always/STATUS/NAME always answers STATUS; /retry-after/S/KEY/NAME answers 429 with
    Retry-After: S once, then serves NAME.
    """

    def __init__(self) -> None:
        self.hits: dict[str, int] = {}
        self.base = ""
        self.versions: dict[str, int] = {}  # /etag/TAG/...: bump to change the image there

    def url(self, path: str) -> str:
        return f"{self.base}/{path}"


@pytest.fixture(scope="session")
async def origin() -> AsyncIterator[Origin]:
    server = Origin()

    def image(name: str) -> web.Response:
        return web.Response(body=(SAMPLE_IMAGES / name).read_bytes(), content_type="image/jpeg")

    async def ok(request: web.Request) -> web.Response:
        return image(request.match_info["name"])

    async def fail(request: web.Request) -> web.Response:
        key = request.match_info["key"]
        server.hits[key] = server.hits.get(key, 0) + 1
        if server.hits[key] <= int(request.match_info["n"]):
            return web.Response(status=503, text="busy")
        return image(request.match_info["name"])

    async def always(request: web.Request) -> web.Response:
        key = request.path
        server.hits[key] = server.hits.get(key, 0) + 1
        return web.Response(status=int(request.match_info["status"]), text="no")

    async def retry_after(request: web.Request) -> web.Response:
        key = request.match_info["key"]
        server.hits[key] = server.hits.get(key, 0) + 1
        if server.hits[key] == 1:
            return web.Response(status=429, headers={"Retry-After": request.match_info["s"]})
        return image(request.match_info["name"])

    app = web.Application()
    app.router.add_get("/ok/{name}", ok)
    app.router.add_get("/fail/{n}/{key}/{name}", fail)
    app.router.add_get("/always/{status}/{name}", always)
    app.router.add_get("/retry-after/{s}/{key}/{name}", retry_after)

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(int(request.match_info["ms"]) / 1000)
        return image(request.match_info["name"])

    app.router.add_get("/slow/{ms}/{key}/{name}", slow)

    async def unique(request: web.Request) -> web.Response:
        """NAME with a trailer of KEY after its end (decoders ignore it): other bytes for
        every KEY, the same picture, so no image's output is another's to reuse."""
        data = (SAMPLE_IMAGES / request.match_info["name"]).read_bytes()
        trailer = b"\n" + request.match_info["key"].encode()
        return web.Response(body=data + trailer, content_type="image/jpeg")

    app.router.add_get("/unique/{key}/{name}", unique)

    async def etag(request: web.Request) -> web.Response:
        """NAME (or, from version 2 on, NEXT) with ETag "TAG-VERSION"; 304 to a matching
        If-None-Match. Counts "TAG 200" and "TAG 304"."""
        tag = request.match_info["tag"]
        version = server.versions.get(tag, 1)
        current = f'"{tag}-{version}"'
        status = 304 if request.headers.get("If-None-Match") == current else 200
        server.hits[f"{tag} {status}"] = server.hits.get(f"{tag} {status}", 0) + 1
        if status == 304:
            return web.Response(status=304, headers={"ETag": current})
        name = request.match_info["name" if version == 1 else "next"]
        response = image(name)
        response.headers["ETag"] = current
        return response

    app.router.add_get("/etag/{tag}/{name}/{next}", etag)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    server.base = f"http://127.0.0.1:{port}"
    yield server
    await runner.cleanup()


@pytest.fixture(scope="session")
def mongo(stack: Stack) -> Iterator[Database[dict[str, Any]]]:
    """The stack's database, for tests that look behind the API."""
    env = stack.config.env()
    with MongoClient(env["MONGO_URL"]) as client:
        yield client[env["MONGO_DB"]]
