"""Talking to the running stack from tests: upload, poll, wait on conditions."""

import asyncio
import csv
import io
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from minio import Minio

from deploy.local.stack import ACCESS_KEY, SECRET_KEY, Stack

CLASSIC_HEADER = ["S. No.", "Product Name", "Input Image Urls"]


async def wait_for(check: Callable[[], Awaitable[Any]], what: str, within: float = 60.0) -> Any:
    """Poll `check` until it returns something truthy; fail with `what` after `within` s."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if result := await check():
            return result
        await asyncio.sleep(0.1)
    pytest.fail(f"timed out after {within:.0f} s waiting for {what}")


def counted(status: dict[str, Any]) -> dict[str, int]:
    """A status's total, done and failed (how many were revalidated or reused depends on what
    the suite's tenant stored before)."""
    return {name: int(status["counts"][name]) for name in ("total", "done", "failed")}


def base(stack: Stack) -> str:
    return f"http://127.0.0.1:{stack.config.ports.gateway}"


def image_url(stack: Stack, name: str) -> str:
    return f"http://127.0.0.1:{stack.config.ports.images}/{name}"


def make_csv(rows: list[list[str]], header: list[str] = CLASSIC_HEADER) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode()


def s3(stack: Stack) -> Minio:
    return Minio(
        f"127.0.0.1:{stack.config.ports.seaweed.s3}",
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        secure=False,
    )


def own_settings() -> dict[str, str]:
    """Form fields for settings no other request used: a ceiling on the output's size far
    above any image's changes nothing of the output, but no earlier output of the same bytes
    matches (shared/reuse.py), so the request does its own codec work and stores its own
    objects however many requests of the same images ran before it."""
    return {"max_bytes": str(500_000_000 + uuid.uuid4().int % 100_000_000)}


async def upload(
    http: aiohttp.ClientSession,
    stack: Stack,
    data: bytes,
    headers: dict[str, str] | None = None,
    gateway_url: str = "",
    **fields: str,
) -> aiohttp.ClientResponse:
    """POST the CSV (and form fields) to /api/upload of `gateway_url` (default: the stack's
    first gateway)."""
    form = aiohttp.FormData()
    # A stream: aiohttp warns of a bytes body over 1 MB (and pytest fails on warnings).
    form.add_field("file", io.BytesIO(data), filename="products.csv", content_type="text/csv")
    for name, value in fields.items():
        form.add_field(name, value)
    return await http.post(f"{gateway_url or base(stack)}/api/upload", data=form, headers=headers)


async def status_of(http: aiohttp.ClientSession, stack: Stack, request_id: str) -> dict[str, Any]:
    async with http.get(f"{base(stack)}/api/status/{request_id}") as response:
        assert response.status == 200, await response.text()
        body: dict[str, Any] = await response.json()
        return body


async def wait_final(
    http: aiohttp.ClientSession, stack: Stack, request_id: str, within: float = 60.0
) -> dict[str, Any]:
    """Poll the request's status until it is final; return that status."""

    async def final() -> dict[str, Any] | None:
        status = await status_of(http, stack, request_id)
        return status if status["status"] not in ("pending", "processing") else None

    result: dict[str, Any] = await wait_for(final, f"request {request_id} to finish", within)
    return result
