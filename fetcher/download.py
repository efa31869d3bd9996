"""Download one user-supplied image URL safely: vetted addresses, bounded time and size.

Permanent problems (404, not an image, blocked address, too large) raise
`shared.errors.ImageError`; problems that may pass (timeouts, resets, 5xx, 429) raise
`TransientFetchError`, and the caller decides how often to retry.
"""

import asyncio
import email.utils
import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus

import aiohttp
from yarl import URL

from shared.errors import ImageError
from shared.netguard import BlockedURL, check_url
from shared.settings import Allowlist

MAX_REDIRECTS = 5
CHUNK_BYTES = 64 * 1024
SNIFF_BYTES = 512  # enough for every signature below and to recognise an HTML page

REQUEST_HEADERS = {
    "Accept": "image/jpeg,image/png,image/webp,image/gif,image/bmp,image/tiff;q=0.9,*/*;q=0.5",
    # Images are compressed already; asking for identity keeps the size cap honest.
    "Accept-Encoding": "identity",
}
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_NO_SUCH_HOST = frozenset({socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)})


class TransientFetchError(Exception):
    """The download failed in a way that may pass; `str(exc)` is the reason to record.

    `retry_after` is the server's Retry-After in seconds (429, 503), if it sent one.
    """

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


@dataclass(frozen=True)
class Validators:
    """What an origin said identifies its answer: sent back to ask whether it changed."""

    etag: str | None = None
    last_modified: str | None = None

    def headers(self) -> dict[str, str]:
        out = {}
        if self.etag:
            out["If-None-Match"] = self.etag
        if self.last_modified:
            out["If-Modified-Since"] = self.last_modified
        return out

    def __bool__(self) -> bool:
        return bool(self.etag or self.last_modified)


@dataclass(frozen=True)
class Downloaded:
    """A fetched image: its bytes, the type sniffed from them, and where it came from."""

    data: bytes
    content_type: str  # e.g. "image/jpeg", from the bytes, never from the server's header
    extension: str  # e.g. "jpg"
    final_url: str  # after redirects
    validators: Validators = Validators()  # the origin's ETag and Last-Modified, if any


@dataclass(frozen=True)
class NotModified:
    """The origin answered 304 to a conditional request: what was stored is current."""

    final_url: str


@dataclass(frozen=True)
class _Kind:
    content_type: str
    extension: str
    marks: tuple[tuple[int, bytes], ...]  # (offset, bytes) that must all match


_KINDS = (
    _Kind("image/jpeg", "jpg", ((0, b"\xff\xd8\xff"),)),
    _Kind("image/png", "png", ((0, b"\x89PNG\r\n\x1a\n"),)),
    _Kind("image/gif", "gif", ((0, b"GIF87a"),)),
    _Kind("image/gif", "gif", ((0, b"GIF89a"),)),
    _Kind("image/webp", "webp", ((0, b"RIFF"), (8, b"WEBP"))),
    # "BM" alone is too weak: also require the reserved field zero and a small DIB header size.
    _Kind("image/bmp", "bmp", ((0, b"BM"), (6, b"\0\0\0\0"), (15, b"\0\0\0"))),
    _Kind("image/tiff", "tiff", ((0, b"II*\0"),)),
    _Kind("image/tiff", "tiff", ((0, b"MM\0*"),)),
)


def sniff(head: bytes) -> tuple[str, str] | None:
    """(content type, extension) of the image the bytes start with, or None."""
    for kind in _KINDS:
        if all(head[at : at + len(mark)] == mark for at, mark in kind.marks):
            return kind.content_type, kind.extension
    return None


def _not_an_image(head: bytes, declared: str) -> str:
    if not head:
        return "not an image (empty body)"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith((b"<!doctype html", b"<html")):
        return "not an image (received text/html)"
    if b"<svg" in text:
        return "not an image (received image/svg+xml; SVG is not supported)"
    if declared.startswith("image/"):
        return f"not an image (unrecognised data labelled {declared})"
    return f"not an image (received {declared or 'unknown content'})"


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP-date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _check_status(response: aiohttp.ClientResponse) -> None:
    status = response.status
    if 200 <= status < 300:
        return
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = response.reason or ""
    reason = f"HTTP {status} {phrase}".rstrip()
    if status in (408, 429) or status >= 500:
        retry_after = _retry_after(response.headers.get("Retry-After"))
        raise TransientFetchError(reason, retry_after)
    if status in _REDIRECT_STATUSES:
        reason += " (redirect without Location)"
    elif status == HTTPStatus.NOT_MODIFIED:  # "use your copy", though none was named
        reason += " (to a request that was not conditional)"
    raise ImageError(reason)


async def _receive(response: aiohttp.ClientResponse, max_bytes: int) -> Downloaded:
    """Read the body up to the cap, giving up as soon as it is too large or not an image."""
    too_large = f"image larger than {max_bytes} bytes"
    if response.content_length is not None and response.content_length > max_bytes:
        response.close()
        raise ImageError(too_large)
    declared = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    body = bytearray()
    kind: tuple[str, str] | None = None
    async for chunk in response.content.iter_chunked(CHUNK_BYTES):
        body += chunk
        if len(body) > max_bytes:
            response.close()  # drops the connection instead of draining the rest
            raise ImageError(too_large)
        if kind is None and len(body) >= SNIFF_BYTES:
            kind = sniff(bytes(body[:SNIFF_BYTES]))
            if kind is None:
                response.close()
                raise ImageError(_not_an_image(bytes(body[:SNIFF_BYTES]), declared))
    kind = kind or sniff(bytes(body))
    if kind is None:
        raise ImageError(_not_an_image(bytes(body[:SNIFF_BYTES]), declared))
    validators = Validators(response.headers.get("ETag"), response.headers.get("Last-Modified"))
    return Downloaded(bytes(body), kind[0], kind[1], str(response.url), validators)


def _translate(exc: aiohttp.ClientError, url: URL) -> Exception:
    """The ImageError or TransientFetchError an aiohttp failure stands for."""
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return ImageError(f"TLS certificate not valid for {url.host}")
    if isinstance(exc, aiohttp.ClientConnectorError):
        if isinstance(exc.os_error, socket.gaierror):
            # No such name is an answer; anything else (timeout, SERVFAIL) may pass.
            if exc.os_error.errno in _NO_SUCH_HOST:
                return ImageError(f"host not found: {url.host}")
            return TransientFetchError(f"DNS lookup failed for {url.host}")
        errno = exc.os_error.errno
        detail = os.strerror(errno) if errno else str(exc.os_error) or "connection failed"
        return TransientFetchError(f"cannot connect to {url.host}:{url.port} ({detail})")
    if isinstance(exc, aiohttp.InvalidURL):
        return ImageError("invalid URL")
    return TransientFetchError(f"connection error: {exc or type(exc).__name__}")


async def _follow(
    session: aiohttp.ClientSession,
    url: str,
    max_bytes: int,
    allow: Allowlist,
    validators: Validators | None,
) -> Downloaded | NotModified:
    current = check_url(url, allow)
    headers = {**REQUEST_HEADERS, **(validators.headers() if validators else {})}
    for _ in range(MAX_REDIRECTS + 1):
        try:
            async with session.get(current, headers=headers, allow_redirects=False) as response:
                location = response.headers.get("Location")
                if response.status == HTTPStatus.NOT_MODIFIED and validators:
                    return NotModified(str(response.url))
                if response.status not in _REDIRECT_STATUSES or not location:
                    _check_status(response)
                    return await _receive(response, max_bytes)
        except TimeoutError:
            raise  # aiohttp's timeouts are ClientErrors too: download() reports them
        except aiohttp.ClientError as exc:
            raise _translate(exc, current) from exc
        try:
            target = current.join(URL(location))
        except ValueError:
            raise ImageError(f"invalid URL in redirect: {location!r}") from None
        # Every hop is vetted again: scheme, IP literal; the resolver checks hostnames.
        current = check_url(target, allow)
    raise ImageError(f"too many redirects (more than {MAX_REDIRECTS})")


async def download(
    session: aiohttp.ClientSession,
    url: str,
    *,
    max_bytes: int,
    allow: Allowlist,
    validators: Validators | None = None,
) -> Downloaded | NotModified:
    """Fetch `url` through a `shared.netguard.make_session` session, following redirects.

    With `validators` the request is conditional (If-None-Match, If-Modified-Since) and a 304
    answers NotModified; a 304 to a request that was not conditional is an error like any
    other 3xx without a body.

    The session's total timeout bounds the whole download, redirects included. `allow` lists
    networks and host names exempt from the address policy (settings.fetch_allow); it must
    match the session's, which vets hostnames.
    """
    limit = session.timeout.total
    try:
        async with asyncio.timeout(limit):
            return await _follow(session, url, max_bytes, allow, validators)
    except BlockedURL as exc:  # from check_url or the session's resolver
        raise ImageError(str(exc)) from exc
    except TimeoutError as exc:
        raise TransientFetchError(f"timed out after {limit:g} s" if limit else "timed out") from exc
