"""download() against a real aiohttp server on 127.0.0.1 (the only network there is).

127.0.0.0/8 is allowed, as in the local demo; everything else keeps the SSRF policy.
"""

import asyncio
import email.utils
import io
import ipaddress
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from types import SimpleNamespace

import aiohttp
import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.test_utils import TestServer
from PIL import Image
from yarl import URL

from fetcher.download import (
    Downloaded,
    NotModified,
    TransientFetchError,
    Validators,
    download,
    sniff,
)
from shared.errors import ImageError
from shared.netguard import NO_EXEMPTIONS, make_session
from shared.settings import Allowlist

ALLOW = Allowlist((ipaddress.ip_network("127.0.0.0/8"),))
CAP = 100_000
HUGE = 32 * 1024 * 1024  # what the oversized endpoints would send if nobody stopped them


def encode(fmt: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 30, 30)).save(out, fmt)
    return out.getvalue()


JPEG = encode("JPEG")
BODIES = {
    "html": b"<!DOCTYPE html><html><body>Sign in</body></html>",
    "svg": b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>',
    "empty": b"",
    "garbage": bytes(range(256)) * 4,
    "long-html": b"\n\n<!doctype html>" + b"<p>lorem ipsum</p>" * 5000,  # cut off at 512 bytes
}


@dataclass
class Stream:
    """What an oversized endpoint managed to send before the client hung up."""

    sent: int = 0
    completed: bool = False
    done: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class ServerState:
    streams: dict[str, Stream] = field(default_factory=dict)
    release: asyncio.Event = field(default_factory=asyncio.Event)


def build_app(state: ServerState) -> web.Application:
    async def image(request: web.Request) -> web.Response:
        return web.Response(body=JPEG, content_type="image/jpeg")

    async def mislabelled(request: web.Request) -> web.Response:
        return web.Response(body=JPEG, content_type="text/plain")

    async def status(request: web.Request) -> web.Response:
        code = int(request.match_info["code"])
        headers = {"Retry-After": request.query["retry"]} if "retry" in request.query else {}
        return web.Response(status=code, text="nope", headers=headers)

    async def redirect(request: web.Request) -> web.Response:
        hops = int(request.match_info["hops"])
        target = f"/redirect/{hops - 1}" if hops > 1 else "/image.jpg"  # relative Location
        return web.Response(status=302, headers={"Location": target})

    async def redirect_to(request: web.Request) -> web.Response:
        return web.Response(status=307, headers={"Location": request.query["url"]})

    async def loop(request: web.Request) -> web.Response:
        return web.Response(status=301, headers={"Location": str(request.url)})

    async def text(request: web.Request) -> web.Response:
        content_type = request.query.get("type", "application/octet-stream")
        return web.Response(body=BODIES[request.match_info["name"]], content_type=content_type)

    async def big(request: web.Request) -> web.StreamResponse:
        stream = state.streams[request.path] = Stream()
        response = web.StreamResponse()
        response.content_type = "image/jpeg"
        if request.path == "/big-declared":
            response.content_length = HUGE
        try:
            await response.prepare(request)
            chunk = JPEG[:4] + bytes(64 * 1024 - 4)
            while stream.sent < HUGE:
                await response.write(chunk)
                stream.sent += len(chunk)
            await response.write_eof()
            stream.completed = True
        except (ConnectionError, aiohttp.ClientConnectionResetError):
            pass
        finally:
            stream.done.set()
        return response

    async def slow(request: web.Request) -> web.Response:
        await asyncio.wait_for(state.release.wait(), 10)
        return web.Response(body=JPEG, content_type="image/jpeg")

    async def stall(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        await response.write(JPEG[:100])
        await asyncio.wait_for(state.release.wait(), 10)
        return response

    async def validated(request: web.Request) -> web.Response:
        """ETag "v1" and a Last-Modified; 304 when either validator matches."""
        last = "Wed, 02 Dec 2026 10:00:00 GMT"
        headers = {"ETag": '"v1"', "Last-Modified": last}
        if request.headers.get("If-None-Match") == '"v1"' or (
            "If-None-Match" not in request.headers
            and request.headers.get("If-Modified-Since") == last
        ):
            return web.Response(status=304, headers=headers)
        return web.Response(body=JPEG, content_type="image/jpeg", headers=headers)

    app = web.Application()
    app.router.add_get("/image.jpg", image)
    app.router.add_get("/validated.jpg", validated)
    app.router.add_get("/mislabelled", mislabelled)
    app.router.add_get("/status/{code}", status)
    app.router.add_get("/redirect/{hops}", redirect)
    app.router.add_get("/redirect-to", redirect_to)
    app.router.add_get("/loop", loop)
    app.router.add_get("/text/{name}", text)
    app.router.add_get("/big", big)
    app.router.add_get("/big-declared", big)
    app.router.add_get("/slow", slow)
    app.router.add_get("/stall", stall)
    return app


@dataclass
class Site:
    server: TestServer
    state: ServerState

    def url(self, path: str) -> str:
        return str(self.server.make_url(path))

    def redirect_to(self, target: str) -> str:
        return str(self.server.make_url("/redirect-to").with_query(url=target))


@pytest.fixture
async def site() -> AsyncIterator[Site]:
    state = ServerState()
    server = TestServer(build_app(state), host="127.0.0.1")
    await server.start_server()
    yield Site(server, state)
    state.release.set()
    await server.close()


@pytest.fixture
async def requested() -> list[str]:
    return []


@pytest.fixture
async def session(requested: list[str]) -> AsyncIterator[aiohttp.ClientSession]:
    """Records every URL a request actually starts for, to prove blocked hops never go out."""

    async def on_start(
        _: aiohttp.ClientSession, __: SimpleNamespace, params: aiohttp.TraceRequestStartParams
    ) -> None:
        requested.append(str(params.url))

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_start)
    async with make_session(ALLOW, 5.0, trace_configs=[trace]) as session:
        yield session


async def fetch(
    session: aiohttp.ClientSession, url: str, max_bytes: int = CAP
) -> Downloaded | NotModified:
    return await download(session, url, max_bytes=max_bytes, allow=ALLOW)


async def image_error(session: aiohttp.ClientSession, url: str) -> str:
    with pytest.raises(ImageError) as info:
        await fetch(session, url)
    return str(info.value)


async def transient_error(session: aiohttp.ClientSession, url: str) -> TransientFetchError:
    with pytest.raises(TransientFetchError) as info:
        await fetch(session, url)
    return info.value


async def test_downloads_jpeg(site: Site, session: aiohttp.ClientSession) -> None:
    url = site.url("/image.jpg")
    assert await fetch(session, url) == Downloaded(JPEG, "image/jpeg", "jpg", url)


async def test_keeps_the_origins_validators(site: Site, session: aiohttp.ClientSession) -> None:
    got = await fetch(session, site.url("/validated.jpg"))
    assert isinstance(got, Downloaded)
    assert got.validators == Validators('"v1"', "Wed, 02 Dec 2026 10:00:00 GMT")


@pytest.mark.parametrize(
    "validators",
    [Validators('"v1"'), Validators(None, "Wed, 02 Dec 2026 10:00:00 GMT")],
    ids=["etag", "last-modified"],
)
async def test_a_conditional_request_answered_304_is_not_modified(
    site: Site, session: aiohttp.ClientSession, validators: Validators
) -> None:
    url = site.url("/validated.jpg")
    got = await download(session, url, max_bytes=CAP, allow=ALLOW, validators=validators)
    assert got == NotModified(url)


async def test_a_changed_image_is_downloaded_despite_old_validators(
    site: Site, session: aiohttp.ClientSession
) -> None:
    url = site.url("/validated.jpg")
    got = await download(session, url, max_bytes=CAP, allow=ALLOW, validators=Validators('"v0"'))
    assert isinstance(got, Downloaded) and got.data == JPEG


async def test_a_304_to_a_request_that_was_not_conditional_is_an_error(
    site: Site, session: aiohttp.ClientSession
) -> None:
    assert await image_error(session, site.url("/status/304")) == (
        "HTTP 304 Not Modified (to a request that was not conditional)"
    )


async def test_type_comes_from_bytes_not_header(site: Site, session: aiohttp.ClientSession) -> None:
    image = await fetch(session, site.url("/mislabelled"))
    assert (image.content_type, image.extension) == ("image/jpeg", "jpg")


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (404, "HTTP 404 Not Found"),
        (403, "HTTP 403 Forbidden"),
        (410, "HTTP 410 Gone"),
        (302, "HTTP 302 Found (redirect without Location)"),
    ],
)
async def test_client_errors_are_permanent(
    site: Site, session: aiohttp.ClientSession, code: int, reason: str
) -> None:
    assert await image_error(session, site.url(f"/status/{code}")) == reason


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (500, "HTTP 500 Internal Server Error"),
        (502, "HTTP 502 Bad Gateway"),
        (408, "HTTP 408 Request Timeout"),
        (429, "HTTP 429 Too Many Requests"),
    ],
)
async def test_server_errors_are_transient(
    site: Site, session: aiohttp.ClientSession, code: int, reason: str
) -> None:
    error = await transient_error(session, site.url(f"/status/{code}"))
    assert (str(error), error.retry_after) == (reason, None)


async def test_retry_after_seconds(site: Site, session: aiohttp.ClientSession) -> None:
    error = await transient_error(session, site.url("/status/429?retry=7"))
    assert (str(error), error.retry_after) == ("HTTP 429 Too Many Requests", 7.0)


async def test_retry_after_http_date(site: Site, session: aiohttp.ClientSession) -> None:
    when = email.utils.formatdate(time.time() + 120, usegmt=True)
    error = await transient_error(session, site.url(f"/status/503?retry={when}"))
    assert str(error) == "HTTP 503 Service Unavailable"
    assert error.retry_after is not None and 100 < error.retry_after <= 120


async def test_unreadable_retry_after_is_ignored(
    site: Site, session: aiohttp.ClientSession
) -> None:
    error = await transient_error(session, site.url("/status/503?retry=soon"))
    assert (str(error), error.retry_after) == ("HTTP 503 Service Unavailable", None)


@pytest.mark.parametrize("hops", [3, 5])
async def test_follows_redirects(
    site: Site, session: aiohttp.ClientSession, requested: list[str], hops: int
) -> None:
    image = await fetch(session, site.url(f"/redirect/{hops}"))
    assert image.final_url == site.url("/image.jpg")
    assert len(requested) == hops + 1


async def test_too_many_redirects(site: Site, session: aiohttp.ClientSession) -> None:
    assert await image_error(session, site.url("/redirect/6")) == "too many redirects (more than 5)"
    assert await image_error(session, site.url("/loop")) == "too many redirects (more than 5)"


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("http://10.0.0.1/", "blocked address 10.0.0.1 (private)"),
        (
            "http://169.254.169.254/latest/meta-data/",
            "blocked address 169.254.169.254 (cloud metadata)",
        ),
        ("http://[::1]/", "blocked address ::1 (loopback)"),
        ("ftp://127.0.0.1/a.jpg", "unsupported URL scheme 'ftp'"),
        ("http://127.1/", "invalid URL: non-canonical IP address '127.1'"),
        ("http://127.0.0.1:99999/", "invalid URL in redirect: 'http://127.0.0.1:99999/'"),
    ],
)
async def test_redirect_to_forbidden_target_is_never_requested(
    site: Site, session: aiohttp.ClientSession, requested: list[str], target: str, reason: str
) -> None:
    assert await image_error(session, site.redirect_to(target)) == reason
    assert len(requested) == 1  # only the redirecting request itself went out


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("html", "not an image (received text/html)"),
        ("svg", "not an image (received image/svg+xml; SVG is not supported)"),
        ("empty", "not an image (empty body)"),
        ("long-html", "not an image (received text/html)"),
        ("garbage", "not an image (received application/octet-stream)"),
        ("garbage?type=image/jpeg", "not an image (unrecognised data labelled image/jpeg)"),
    ],
)
async def test_not_an_image(
    site: Site, session: aiohttp.ClientSession, name: str, reason: str
) -> None:
    assert await image_error(session, site.url(f"/text/{name}")) == reason


@pytest.mark.parametrize("path", ["/big", "/big-declared"])
async def test_oversized_body_is_cut_off(
    site: Site, session: aiohttp.ClientSession, path: str
) -> None:
    assert await image_error(session, site.url(path)) == f"image larger than {CAP} bytes"
    stream = site.state.streams[path]
    await asyncio.wait_for(stream.done.wait(), 5)
    assert not stream.completed  # the server saw the connection drop...
    assert stream.sent < HUGE  # ...long before it sent everything


async def test_whole_download_times_out(site: Site) -> None:
    async with make_session(ALLOW, 0.3) as session:
        for path in ("/slow", "/stall"):
            started = time.monotonic()
            error = await transient_error(session, site.url(path))
            assert str(error) == "timed out after 0.3 s"
            assert time.monotonic() - started < 2


async def test_connection_refused_is_transient(session: aiohttp.ClientSession) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    error = await transient_error(session, f"http://127.0.0.1:{port}/a.jpg")
    assert str(error) == f"cannot connect to 127.0.0.1:{port} (Connection refused)"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://127.0.0.1/a.jpg", "unsupported URL scheme 'ftp'"),
        ("javascript:alert(1)", "unsupported URL scheme 'javascript'"),
        ("127.0.0.1/a.jpg", "invalid URL: no scheme (expected http:// or https://)"),
        ("http:///a.jpg", "invalid URL: no host"),
        ("http://10.0.0.1/a.jpg", "blocked address 10.0.0.1 (private)"),
    ],
)
async def test_bad_urls_are_never_requested(
    session: aiohttp.ClientSession, requested: list[str], url: str, reason: str
) -> None:
    assert await image_error(session, url) == reason
    assert requested == []


async def test_localhost_needs_the_allow_list(site: Site) -> None:
    url = f"http://localhost:{site.server.port}/image.jpg"
    async with make_session(NO_EXEMPTIONS, 5.0) as session:
        with pytest.raises(ImageError, match=r"^blocked address 127\.0\.0\.1 \(loopback\)"):
            await download(session, url, max_bytes=CAP, allow=NO_EXEMPTIONS)
    async with make_session(ALLOW, 5.0) as session:
        assert (await fetch(session, url)).data == JPEG


class FakeDNS(AbstractResolver):
    """Stands in for the system resolver: names map to addresses or to a lookup error."""

    def __init__(self, table: dict[str, list[str] | OSError]) -> None:
        self.table = table

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        answer = self.table[host]
        if isinstance(answer, OSError):
            raise answer
        return [
            ResolveResult(
                hostname=host, host=ip, port=port, family=socket.AF_INET, proto=0, flags=0
            )
            for ip in answer
        ]

    async def close(self) -> None:
        pass


async def test_hostnames_connect_only_to_vetted_addresses(site: Site) -> None:
    dns = FakeDNS(
        {
            "images.test": ["10.0.0.1", "127.0.0.1"],
            "rebind.test": ["10.0.0.1"],
            "missing.test": socket.gaierror(socket.EAI_NONAME, "Name or service not known"),
            "flaky.test": socket.gaierror(socket.EAI_AGAIN, "Temporary failure"),
        }
    )
    port = site.server.port
    async with make_session(ALLOW, 5.0, resolver=dns) as session:
        image = await fetch(session, f"http://images.test:{port}/image.jpg")
        assert image.data == JPEG
        reason = await image_error(session, f"http://rebind.test:{port}/image.jpg")
        assert reason == "blocked address 10.0.0.1 (private) for host 'rebind.test'"
        redirect = site.redirect_to(f"http://rebind.test:{port}/")
        assert await image_error(session, redirect) == reason
        missing = await image_error(session, f"http://missing.test:{port}/a.jpg")
        assert missing == "host not found: missing.test"
        error = await transient_error(session, f"http://flaky.test:{port}/a.jpg")
        assert str(error) == "DNS lookup failed for flaky.test"


async def test_listed_hosts_reach_loopback_and_no_one_else(site: Site) -> None:
    """FETCH_ALLOW_HOSTS=origin.internal,*.cdn.internal and no CIDR: each hop is vetted anew."""
    allow = Allowlist(hosts=("origin.internal", "*.cdn.internal"))
    dns = FakeDNS({h: ["127.0.0.1"] for h in ("origin.internal", "a.cdn.internal", "other.test")})
    port = site.server.port
    async with make_session(allow, 5.0, resolver=dns) as session:
        for host in ("origin.internal", "a.cdn.internal"):
            url = f"http://{host}:{port}/image.jpg"
            assert (await download(session, url, max_bytes=CAP, allow=allow)).data == JPEG
        hop = URL(f"http://origin.internal:{port}/redirect-to")
        for target, reason in [
            (f"http://other.test:{port}/image.jpg", "(loopback) for host 'other.test'"),
            (f"http://127.0.0.1:{port}/image.jpg", "(loopback)"),  # an address: not a listed name
        ]:
            for url in (target, str(hop.with_query(url=target))):  # directly, then redirected
                with pytest.raises(ImageError) as info:
                    await download(session, url, max_bytes=CAP, allow=allow)
                assert str(info.value) == f"blocked address 127.0.0.1 {reason}"


@pytest.mark.parametrize(
    ("fmt", "content_type", "extension"),
    [
        ("JPEG", "image/jpeg", "jpg"),
        ("PNG", "image/png", "png"),
        ("GIF", "image/gif", "gif"),
        ("WEBP", "image/webp", "webp"),
        ("BMP", "image/bmp", "bmp"),
        ("TIFF", "image/tiff", "tiff"),
    ],
)
def test_sniff_formats(fmt: str, content_type: str, extension: str) -> None:
    assert sniff(encode(fmt)) == (content_type, extension)


@pytest.mark.parametrize(
    "head",
    [b"", b"BMW is a car", b"RIFF\0\0\0\0WAVEfmt ", b"<html>", b"GIF88a", b"\xff\xd8"],
)
def test_sniff_rejects(head: bytes) -> None:
    assert sniff(head) is None
