"""The suite's HTTP servers, on an event loop in a thread of their own.

- the origin, on 127.0.0.2 (the one address the stack's SSRF guard allows): serves the
  payloads and misbehaves on request, and serves versions the tests set per tag, with the
  validators and the answers to conditional requests they choose (re-runs, issue 14);
- an "internal" service on 127.0.0.1, standing for what the guard protects: it serves a good
  image, so a URL that slipped past the guard would show up as a finished image (and a hit);
- a webhook receiver on 127.0.0.2.

A thread of their own, so that blocking test code (pymongo, minio, the keys CLI) never
stalls them into a timeout that is not the case under test.
"""

import asyncio
import threading
from collections import Counter
from dataclasses import dataclass
from enum import Enum

from aiohttp import web

from tests.bad_input.payloads import payloads

ORIGIN_HOST = "127.0.0.2"
INTERNAL_HOST = "127.0.0.1"
DRIP_PIECES = 20  # the good JPEG in 20 pieces, DRIP_PAUSE_S apart: 5 s in all
DRIP_PAUSE_S = 0.25


class Server:
    """Counts requests per path (thread-safe reads from the tests)."""

    def __init__(self) -> None:
        self.base = ""
        self._hits: Counter[str] = Counter()
        self._lock = threading.Lock()

    def hits(self, path: str) -> int:
        with self._lock:
            return self._hits[path]

    def total_hits(self) -> int:
        with self._lock:
            return sum(self._hits.values())

    def _count(self, request: web.Request) -> None:
        with self._lock:
            self._hits[request.path] += 1


class NotModified(Enum):
    """When the origin answers 304 instead of the version's body."""

    MATCH = "match"  # If-None-Match names its ETag (weak comparison), or If-Modified-Since
    # is its Last-Modified: what a correct origin does
    CONDITIONAL = "conditional"  # to any conditional request, whatever it names
    ALWAYS = "always"  # to every request, conditional or not
    NEVER = "never"  # conditional headers ignored: always the body


@dataclass(frozen=True)
class Version:
    """What /versioned/TAG serves now."""

    body: bytes
    content_type: str = "image/png"
    etag: str | None = None
    last_modified: str | None = None
    not_modified: NotModified = NotModified.MATCH


@dataclass(frozen=True)
class Asked:
    """One request /versioned/TAG got: its conditional headers, and the status answered."""

    if_none_match: str | None
    if_modified_since: str | None
    status: int


def _opaque(tag: str) -> str:
    return tag.strip().removeprefix("W/")


def _not_modified(version: Version, request: web.Request) -> bool:
    if_none_match = request.headers.get("If-None-Match")
    if_modified_since = request.headers.get("If-Modified-Since")
    match version.not_modified:
        case NotModified.ALWAYS:
            return True
        case NotModified.NEVER:
            return False
        case NotModified.CONDITIONAL:
            return bool(if_none_match or if_modified_since)
    if if_none_match is not None:  # RFC 9110 13.1.2: it takes precedence; weak comparison
        named = {_opaque(tag) for tag in if_none_match.split(",")}
        return version.etag is not None and _opaque(version.etag) in named
    return if_modified_since is not None and if_modified_since == version.last_modified


class Origin(Server):
    """/img/NAME (payloads.py), /status/CODE/TAG, /redirect/TAG?to=URL, /loop/TAG,
    /sleep/SECONDS/TAG (then the good JPEG), /drip/TAG (the good JPEG, slowly),
    /big/BYTES/TAG (with Content-Length), /big-chunked/BYTES/TAG (without),
    /versioned/TAG (what `serve` set for TAG; `asked` lists its requests)."""

    def __init__(self) -> None:
        super().__init__()
        self._versions: dict[str, Version] = {}
        self._asked: dict[str, list[Asked]] = {}

    def serve(self, tag: str, version: Version) -> None:
        """What /versioned/TAG answers from now on."""
        with self._lock:
            self._versions[tag] = version

    def asked(self, tag: str) -> list[Asked]:
        with self._lock:
            return list(self._asked.get(tag, []))

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/img/{name}", self._image)
        app.router.add_get("/status/{code}/{tag}", self._status)
        app.router.add_get("/redirect/{tag}", self._redirect)
        app.router.add_get("/loop/{tag}", self._loop)
        app.router.add_get("/sleep/{seconds}/{tag}", self._sleep)
        app.router.add_get("/drip/{tag}", self._drip)
        app.router.add_get("/big/{size}/{tag}", self._big)
        app.router.add_get("/big-chunked/{size}/{tag}", self._big_chunked)
        app.router.add_get("/versioned/{tag}", self._versioned)
        return app

    async def _versioned(self, request: web.Request) -> web.Response:
        self._count(request)
        tag = request.match_info["tag"]
        with self._lock:
            version = self._versions[tag]
        headers = {}
        if version.etag is not None:
            headers["ETag"] = version.etag
        if version.last_modified is not None:
            headers["Last-Modified"] = version.last_modified
        if _not_modified(version, request):
            response = web.Response(status=304, headers=headers)
        else:
            headers["Content-Type"] = version.content_type
            response = web.Response(body=version.body, headers=headers)
        asked = Asked(
            request.headers.get("If-None-Match"),
            request.headers.get("If-Modified-Since"),
            response.status,
        )
        with self._lock:
            self._asked.setdefault(tag, []).append(asked)
        return response

    async def _image(self, request: web.Request) -> web.Response:
        self._count(request)
        body, content_type = payloads()[request.match_info["name"]]
        return web.Response(body=body, headers={"Content-Type": content_type})

    async def _status(self, request: web.Request) -> web.Response:
        self._count(request)
        return web.Response(status=int(request.match_info["code"]), text="no image here")

    async def _redirect(self, request: web.Request) -> web.Response:
        self._count(request)
        return web.Response(status=302, headers={"Location": request.query["to"]})

    async def _loop(self, request: web.Request) -> web.Response:
        self._count(request)
        return web.Response(status=302, headers={"Location": request.path})

    async def _sleep(self, request: web.Request) -> web.Response:
        self._count(request)
        await asyncio.sleep(float(request.match_info["seconds"]))
        return await self._good()

    async def _good(self) -> web.Response:
        return web.Response(body=payloads()["good.jpg"][0], content_type="image/jpeg")

    async def _drip(self, request: web.Request) -> web.StreamResponse:
        self._count(request)
        body = payloads()["good.jpg"][0]
        response = web.StreamResponse(headers={"Content-Type": "image/jpeg"})
        response.content_length = len(body)
        await response.prepare(request)
        step = -(-len(body) // DRIP_PIECES)
        for start in range(0, len(body), step):
            await response.write(body[start : start + step])
            await asyncio.sleep(DRIP_PAUSE_S)
        return response

    async def _big(self, request: web.Request) -> web.Response:
        self._count(request)
        return web.Response(
            body=_big_body(int(request.match_info["size"])), content_type="image/jpeg"
        )

    async def _big_chunked(self, request: web.Request) -> web.StreamResponse:
        self._count(request)
        body = _big_body(int(request.match_info["size"]))
        response = web.StreamResponse(headers={"Content-Type": "image/jpeg"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for start in range(0, len(body), 256 * 1024):
            await response.write(body[start : start + 256 * 1024])
        return response


def _big_body(size: int) -> bytes:
    """`size` bytes that start like the good JPEG (so sniffing passes), padded with zeros."""
    good = payloads()["good.jpg"][0]
    return (good + b"\0" * max(0, size - len(good)))[:size]


class Internal(Server):
    """Any GET answers the good JPEG: reaching it at all means the guard let a URL through."""

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/{tail:.*}", self._any)
        return app

    async def _any(self, request: web.Request) -> web.Response:
        self._count(request)
        return web.Response(body=payloads()["good.jpg"][0], content_type="image/jpeg")


class Webhooks(Server):
    """POST /hook/TAG answers 204 and keeps the body."""

    def __init__(self) -> None:
        super().__init__()
        self.bodies: dict[str, list[bytes]] = {}

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/hook/{tag}", self._receive)
        return app

    async def _receive(self, request: web.Request) -> web.Response:
        self._count(request)
        body = await request.read()
        with self._lock:
            self.bodies.setdefault(request.match_info["tag"], []).append(body)
        return web.Response(status=204)

    def received(self, tag: str) -> list[bytes]:
        with self._lock:
            return list(self.bodies.get(tag, []))


@dataclass
class Servers:
    origin: Origin
    internal: Internal
    webhooks: Webhooks

    def url(self, template: str) -> str:
        """A case's URL template with the servers' addresses filled in."""
        internal_port = self.internal.base.rsplit(":", 1)[1]
        return template.format(
            origin=self.origin.base,
            origin_netloc=self.origin.base.removeprefix("http://"),
            internal=self.internal.base,
            internal_port=internal_port,
        )
