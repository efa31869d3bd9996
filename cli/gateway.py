"""The gateway's HTTP API as `imgpipe` uses it; answers decoded into shared/api.py's views."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import BinaryIO, TypeVar

import aiohttp
import msgspec

from shared.api import (
    Accepted,
    ErrorBody,
    ProductView,
    RequestList,
    RequestView,
    StatusView,
    UsageView,
)

V = TypeVar("V")
DEFAULT_URL = "http://127.0.0.1:8000"
STATUS_PAGE = 5000  # the gateway's largest page of products: fewest round trips


class MergedStatus(RequestView, frozen=True, kw_only=True):
    """A request with every page of its products, merged (`imgpipe status --json`), and the
    tenant's usage as of the last page."""

    products: list[ProductView]
    usage: UsageView


class ApiError(Exception):
    """The gateway answered an error; `message` is its {"error": …}."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status, self.message = status, message


class Gateway:
    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session, self.url = session, url.rstrip("/")

    async def upload(
        self, filename: str, data: bytes, options: dict[str, str], key: str
    ) -> tuple[Accepted, bool]:
        """POST the CSV; returns the answer and whether it replays an earlier upload."""
        form = aiohttp.FormData()
        form.add_field("file", data, filename=filename, content_type="text/csv")
        for name, value in options.items():
            form.add_field(name, value)
        headers = {"Idempotency-Key": key}
        async with self.session.post(f"{self.url}/api/upload", data=form, headers=headers) as r:
            answer = await _read(r, Accepted)
            return answer, r.headers.get("Idempotent-Replayed") == "true"

    async def status_page(
        self, request_id: str, offset: int, limit: int, etag: str | None = None
    ) -> tuple[StatusView | None, str | None]:
        """One page of the status; (None, etag) when it has not changed since `etag`."""
        params = {"offset": offset, "limit": limit}
        headers = {"If-None-Match": etag} if etag else {}
        url = f"{self.url}/api/status/{request_id}"
        async with self.session.get(url, params=params, headers=headers) as r:
            if r.status == 304:
                return None, etag
            return await _read(r, StatusView), r.headers.get("ETag")

    async def status(self, request_id: str) -> MergedStatus:
        """The whole status: every page of products merged into one list."""
        products: list[ProductView] = []
        offset: int | None = 0
        last = None
        while offset is not None:
            page, _ = await self.status_page(request_id, offset, STATUS_PAGE)
            assert page is not None  # no If-None-Match sent: never a 304
            products += page.products
            offset, last = page.products_page.next_offset, page
        assert last is not None
        summary = msgspec.structs.asdict(last)
        del summary["products"], summary["products_page"]  # usage stays: the last page's
        return MergedStatus(**summary, products=products)

    async def download(self, request_id: str, out: BinaryIO) -> None:
        async with self.session.get(f"{self.url}/api/download/{request_id}") as r:
            await _check(r)
            async for chunk in r.content.iter_chunked(64 * 1024):
                out.write(chunk)

    async def delete(self, request_id: str) -> None:
        async with self.session.delete(f"{self.url}/api/requests/{request_id}") as r:
            await _check(r)

    async def requests(self, limit: int, before: str | None) -> RequestList:
        params: dict[str, str | int] = {"limit": limit}
        if before:
            params["before"] = before
        async with self.session.get(f"{self.url}/api/requests", params=params) as r:
            return await _read(r, RequestList)


async def _read(response: aiohttp.ClientResponse, view: type[V]) -> V:
    await _check(response)
    return msgspec.json.decode(await response.read(), type=view)


async def _check(response: aiohttp.ClientResponse) -> None:
    if response.status < 400:
        return
    body = await response.read()
    try:
        message = msgspec.json.decode(body, type=ErrorBody).error
    except msgspec.DecodeError:
        message = body.decode(errors="replace").strip() or "no details"
    raise ApiError(response.status, response.reason or "", message)


@asynccontextmanager
async def gateway(url: str, key: str) -> AsyncIterator[Gateway]:
    # No total timeout: a download may stream for long; a silent gateway still times out.
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=60)
    headers = {"Authorization": f"Bearer {key}", "User-Agent": "imgpipe-cli"}
    async with aiohttp.ClientSession(headers=headers, timeout=timeout) as session:
        yield Gateway(session, url)
