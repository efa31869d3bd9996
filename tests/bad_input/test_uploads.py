"""CSV uploads: refused ones answer exactly and store nothing; odd but valid ones are processed;
one cut short leaves nothing behind."""

import asyncio
import io
import os
import tempfile
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from minio import Minio
from pymongo.database import Database

from deploy.local.stack import Stack
from ingest.csvfile import ERRORS_COLUMN, OUTPUT_URLS_COLUMN
from tests.bad_input.cases import (
    ACCEPTED,
    CUT_SHORT,
    HEADER,
    REFUSED,
    STREAMED,
    CutShort,
    Refused,
    csv_bytes,
)
from tests.bad_input.checks import (
    assert_keeps_serving,
    compressed_keys,
    output_rows,
    process,
    stored,
)
from tests.bad_input.servers import Servers
from tests.integration.client import base, counted, upload, wait_for

pytestmark = pytest.mark.bad_input
ACCEPTED_IDS = {case.id for case in ACCEPTED}


def form_of(case: Refused) -> aiohttp.FormData:
    form = aiohttp.FormData()
    if case.csv is not None:
        data = case.csv()
        for _ in range(case.files):
            if case.csv_as_text:
                form.add_field("file", data.decode())
            else:
                form.add_field(
                    "file", io.BytesIO(data), filename="products.csv", content_type="text/csv"
                )
    for name, value in case.fields:
        form.add_field(name, value)
    return form


@pytest.mark.parametrize("case", (*REFUSED, *STREAMED), ids=lambda case: case.id)
async def test_refused(
    case: Refused,
    stack: Stack,
    http: aiohttp.ClientSession,
    mongo: Database[dict[str, Any]],
    store: Minio,
) -> None:
    before = stored(mongo, store)
    url = f"{base(stack)}/api/upload"
    async with http.post(url, data=form_of(case), headers=dict(case.headers)) as response:
        answer = (response.status, response.content_type, await response.json())
    assert answer == (case.status, "application/json", {"error": case.error})
    assert stored(mongo, store) == before  # no request, no idempotency key, no inbox object
    assert open_temp_files(stack.procs["gateway"]) == set()  # its spooled CSV is deleted


async def test_refused_upload_leaves_its_idempotency_key_free(
    stack: Stack, http: aiohttp.ClientSession, servers: Servers
) -> None:
    assert "idempotency-key-after-refusal" in ACCEPTED_IDS
    (refused,) = [case for case in REFUSED if case.id == "idempotency-key-bad-csv"]
    data = f"{','.join(HEADER)}\n1,Mug,{servers.url('{origin}/img/good.jpg')}\n".encode()
    async with await upload(http, stack, data, dict(refused.headers)) as response:
        body = await response.json()
    assert (response.status, body["status"]) == (202, "pending"), body


async def test_extra_columns_are_kept(
    stack: Stack, http: aiohttp.ClientSession, servers: Servers
) -> None:
    assert "csv-extra-columns" in ACCEPTED_IDS
    header = [*HEADER, "Category", "Notes"]
    row = ["1", "Mug", servers.url("{origin}/img/good.jpg"), "kitchen", "blue, 300 ml"]
    final = await process(http, stack, [row], header)
    assert (final["status"], final["counts"]["done"]) == ("completed", 1)
    output = await output_rows(http, stack, final["request_id"])
    assert output[0] == [*header, OUTPUT_URLS_COLUMN, ERRORS_COLUMN]
    assert output[1][:5] == row
    assert output[1][5].startswith("http") and output[1][6] == ""


async def test_formula_cells_are_neutralised(
    stack: Stack, http: aiohttp.ClientSession, servers: Servers
) -> None:
    assert "csv-formula-injection" in ACCEPTED_IDS
    good = servers.url("{origin}/img/good.jpg")
    rows = [["1", '=HYPERLINK("http://evil","x")', good], ["+1+2", "@SUM(A1)", good]]
    rows.append(["-3", "Plain", good])
    final = await process(http, stack, rows)
    assert final["status"] == "completed"
    assert [p["product"] for p in final["products"]] == [r[1] for r in rows]  # JSON: as given
    output = await output_rows(http, stack, final["request_id"])
    assert [r[:3] for r in output[1:]] == [
        ["1", '\'=HYPERLINK("http://evil","x")', good],
        ["'+1+2", "'@SUM(A1)", good],
        ["'-3", "Plain", good],
    ]


async def test_duplicate_rows_are_both_processed(
    stack: Stack, http: aiohttp.ClientSession, servers: Servers, store: Minio
) -> None:
    assert "csv-duplicate-rows" in ACCEPTED_IDS
    row = ["1", "Mug", servers.url("{origin}/img/good.jpg")]
    final = await process(http, stack, [row, row])
    request_id = final["request_id"]
    assert (final["status"], counted(final)) == ("completed", {"total": 2, "done": 2, "failed": 0})
    output = await output_rows(http, stack, request_id)
    assert [r[:3] for r in output[1:]] == [row, row]
    first, second = (r[3] for r in output[1:])
    # Each row has its output; the same bytes with the same settings are one output, made
    # once (by this request or an earlier one) and reused (shared/reuse.py).
    async with aiohttp.ClientSession() as anonymous:
        bodies = []
        for link in (first, second):
            async with anonymous.get(link) as response:
                assert response.status == 200, link
                bodies.append(await response.read())
    assert bodies[0] == bodies[1]
    assert len(compressed_keys(store, request_id)) <= 1


async def test_accepted_upload_answers_pending(
    stack: Stack, http: aiohttp.ClientSession, servers: Servers
) -> None:
    """The control for the refused cases: the same form with a good CSV is accepted."""
    data = f"{','.join(HEADER)}\n1,Mug,{servers.url('{origin}/img/good.jpg')}\n".encode()
    async with await upload(http, stack, data) as response:
        body = await response.json()
    assert response.status == 202
    assert body == {"request_id": body["request_id"], "status": "pending"}


def open_temp_files(pid: int) -> set[str]:
    """The temporary files (deleted at creation, as tempfile's are) a process has open."""
    found = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except FileNotFoundError:  # closed meanwhile
            continue
        if target.startswith(tempfile.gettempdir()) and target.endswith(" (deleted)"):
            found.add(target)
    return found


CUT_SHORT_LOGGED = "upload cut short: the client disconnected"


@pytest.mark.parametrize("case", CUT_SHORT, ids=lambda case: case.id)
async def test_cut_short(
    case: CutShort,
    stack: Stack,
    api_key: str,
    mongo: Database[dict[str, Any]],
    store: Minio,
) -> None:
    """A raw socket sends the headers and part of a multipart body, then closes."""
    before = stored(mongo, store)
    gateway, log = stack.procs["gateway"], stack.logs / "gateway.log"
    logged = log.read_text().count(CUT_SHORT_LOGGED)
    assert open_temp_files(gateway) == set()
    boundary = uuid.uuid4().hex
    part = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        'filename="products.csv"\r\nContent-Type: text/csv\r\n\r\n'
    ).encode()
    rows = [["1", "Widget", f"http://images.example/{n}.jpg"] for n in range(case.sent // 30)]
    data = csv_bytes(rows)[: case.sent]
    assert len(data) == case.sent
    promised = len(part) + 10_000_000 + len(f"\r\n--{boundary}--\r\n")
    head = (
        "POST /api/upload HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {api_key}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {promised}\r\n\r\n"
    ).encode()
    _, writer = await asyncio.open_connection("127.0.0.1", stack.config.ports.gateway)
    writer.write(head + part + data)
    await writer.drain()
    if case.on_disk:  # close only once the gateway has spooled to disk
        await wait_for(lambda: asyncio.to_thread(open_temp_files, gateway), "a temporary file")
    writer.close()
    await writer.wait_closed()

    async def said() -> bool:
        return log.read_text().count(CUT_SHORT_LOGGED) > logged

    await wait_for(said, "the gateway to log the upload cut short")
    assert open_temp_files(gateway) == set()
    assert stored(mongo, store) == before  # no request, no idempotency key, no inbox object


async def test_keeps_serving(stack: Stack, http: aiohttp.ClientSession, servers: Servers) -> None:
    await assert_keeps_serving(stack, http, servers)
