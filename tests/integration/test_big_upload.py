"""Big CSVs on the real local stack (issue 13): the upload streams, so the gateway's memory
does not grow with the CSV.

Measured as the gateway process's peak resident memory (VmHWM), reset before each upload
(/proc/<pid>/clear_refs), for a small CSV and for ~100 MB ones: one that is accepted, stored
and processed, and a realistic one of 1,000,000 URLs, checked row by row, which its tenant's
images a day then refuse (so nothing of it runs). No timings are asserted.
"""

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from deploy.local.stack import Stack
from shared.names import INBOX_BUCKET
from tests.integration.client import image_url, make_csv, s3, upload, wait_final

pytestmark = pytest.mark.integration
CAT = "cat_chelsea_451x300.jpg"
BIG = 100_000_000  # bytes, under MAX_CSV_BYTES (100 MiB)
URLS = 1_000_000  # MAX_CSV_ROWS, one URL a row
# What the gateway may grow by for a big CSV over a small one: the SDK's 5 MiB part and its
# copies, allocator slack. Holding the CSV would take 100 MB more.
GROWTH_BOUND = 40 * 1024 * 1024


@pytest.fixture
async def tenant(stack: Stack) -> AsyncIterator[tuple[str, aiohttp.ClientSession]]:
    name = f"big-{uuid.uuid4().hex[:8]}"
    headers = {"Authorization": f"Bearer {stack.create_key('big uploads', name)}"}
    # A connection per request: a pooled one idle past uvicorn's keep-alive (5 s, while the
    # limit is set) may close just as the next upload starts writing to it.
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(headers=headers, connector=connector) as http:
        yield name, http


def peak_memory(pid: int) -> int:
    """The process's peak resident memory since the last reset, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc/<pid>/status")


def reset_peak_memory(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # peak := current (Linux 4.0+)


def padded(data: bytes, size: int) -> bytes:
    """`data` and blank lines (skipped, not rows) up to `size` bytes."""
    line = b" " * 999 + b"\n"
    return data + line * ((size - len(data)) // len(line))


async def peak_of_upload(
    stack: Stack, http: aiohttp.ClientSession, data: bytes, status: int
) -> tuple[int, dict[str, str]]:
    gateway = stack.procs["gateway"]
    reset_peak_memory(gateway)
    async with await upload(http, stack, data) as response:
        body = await response.json()
        assert response.status == status, body
    return peak_memory(gateway), body


@pytest.mark.timeout(600)
async def test_gateway_memory_does_not_grow_with_the_csv(
    stack: Stack, tenant: tuple[str, aiohttp.ClientSession]
) -> None:
    name, http = tenant
    rows = [["1", "Cat", f"{image_url(stack, CAT)}?big-{name}"]]
    small = make_csv(rows)
    big = padded(small, BIG)
    assert len(big) > BIG - 1000

    small_peak, _ = await peak_of_upload(stack, http, small, 202)
    big_peak, accepted = await peak_of_upload(stack, http, big, 202)
    print(f"gateway peak: {small_peak / 2**20:.1f} MiB (small CSV), "
          f"{big_peak / 2**20:.1f} MiB ({len(big) / 1e6:.0f} MB CSV, accepted)")  # fmt: skip
    assert big_peak - small_peak < GROWTH_BOUND

    # Stored whole (a multipart upload) and processed like any CSV.
    key = f"uploads/{accepted['request_id']}.csv"
    assert s3(stack).stat_object(INBOX_BUCKET, key).size == len(big)
    final = await wait_final(http, stack, accepted["request_id"], within=300)
    assert (final["status"], final["counts"]["done"]) == ("completed", 1)

    # 1,000,000 URLs: every row parsed by the gateway, then its tenant's day refuses them.
    stack.limit(name, images_per_day=2)
    many = make_csv([[str(i), "P", f"http://images.example/{i:07}.jpg"] for i in range(URLS)])
    many_peak, refused = await peak_of_upload(stack, http, many, 413)
    print(f"gateway peak: {many_peak / 2**20:.1f} MiB ({len(many) / 1e6:.0f} MB CSV, "
          f"{URLS} URLs, refused by the quota)")  # fmt: skip
    assert refused["error"].startswith(f"the CSV has {URLS} images, more than tenant {name}")
    assert many_peak - small_peak < GROWTH_BOUND
