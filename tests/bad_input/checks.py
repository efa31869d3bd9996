"""What every bad-input case also checks: nothing half-written, and the service still serves."""

import asyncio
import csv
import io
import re
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from minio import Minio
from pymongo.database import Database
from yarl import URL

from deploy.local.stack import Stack
from ingest.csvfile import ERRORS_COLUMN, OUTPUT_URLS_COLUMN
from shared.names import COMPRESSED_BUCKET, INBOX_BUCKET, ORIGINALS_BUCKET
from tests.bad_input.cases import HEADER, Outcome, csv_bytes
from tests.bad_input.servers import Servers
from tests.integration.client import (
    base,
    counted,
    own_settings,
    status_of,
    upload,
    wait_final,
    wait_for,
)

UNFINISHED = ("pending", "processing")


@dataclass(frozen=True)
class Stored:
    """How much the gateway has written: a refused upload must change none of it."""

    requests: int
    idempotency_keys: int
    inbox_objects: int


def stored(mongo: Database[dict[str, Any]], store: Minio) -> Stored:
    return Stored(
        mongo["requests"].count_documents({}),
        mongo["idempotency_keys"].count_documents({}),
        sum(1 for _ in store.list_objects(INBOX_BUCKET, recursive=True)),
    )


def object_keys(store: Minio, bucket: str, request_id: str) -> set[str]:
    """Keys of the request's objects in `bucket` ("<request>/<row>-<slot>.<ext>")."""
    objects = store.list_objects(bucket, prefix=f"{request_id}/", recursive=True)
    return {o.object_name for o in objects if o.object_name is not None}


def compressed_keys(store: Minio, request_id: str) -> set[str]:
    return object_keys(store, COMPRESSED_BUCKET, request_id)


def original_keys(store: Minio, request_id: str) -> set[str]:
    return object_keys(store, ORIGINALS_BUCKET, request_id)


def dead_processes(stack: Stack) -> list[str]:
    """The stack's processes that are no longer running (a crash shows up here)."""
    dead = []
    for name, pid in stack.procs.items():
        stat = Path(f"/proc/{pid}/stat")
        if not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] == "Z":
            dead.append(name)
    return dead


async def process(
    http: aiohttp.ClientSession,
    stack: Stack,
    rows: Sequence[Sequence[str]],
    header: Sequence[str] = HEADER,
    **fields: str,
) -> dict[str, Any]:
    """Upload a CSV (it must be accepted) and return its final status."""
    async with await upload(http, stack, csv_bytes(rows, header), None, **fields) as response:
        body = await response.json()
        assert response.status == 202, body
    return await wait_final(http, stack, body["request_id"])


def images_by_product(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each product's only image, by product name (the suite's batches have one per row)."""
    found = {}
    for product in status["products"]:
        (image,) = product["images"]
        found[product["product"]] = image
    return found


def image_key_of(request_id: str, row: int) -> str:
    return f"{request_id}/{row}-0.jpg"


async def output_rows(
    http: aiohttp.ClientSession, stack: Stack, request_id: str
) -> list[list[str]]:
    """The output CSV, parsed (header first)."""
    async with http.get(f"{base(stack)}/api/download/{request_id}") as response:
        assert response.status == 200, await response.text()
        text = (await response.read()).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text)))


SERVICES = ("gateway", "ingest", "fetcher", "compressor", "notifier", "relay")
_SERVER_ERROR = re.compile(r'" 5\d\d ')  # uvicorn's access log: "GET /api/… HTTP/1.1" 500


def log_problems(stack: Stack) -> list[str]:
    """Tracebacks in the services' logs, and answers 5xx in the gateway's: bugs, not bad input."""
    problems = []
    for name in SERVICES:
        log = stack.logs / f"{name}.log"
        for line in log.read_text(errors="replace").splitlines() if log.exists() else []:
            if "Traceback" in line or (name == "gateway" and _SERVER_ERROR.search(line)):
                problems.append(f"{name}: {line[:300]}")
    return problems


async def assert_keeps_serving(stack: Stack, http: aiohttp.ClientSession, servers: Servers) -> None:
    """Every process still runs, none logged a traceback or answered 5xx, and a good request
    completes and calls its webhook."""
    assert dead_processes(stack) == []
    assert log_problems(stack) == []
    tag = uuid.uuid4().hex
    final = await process(
        http,
        stack,
        [["1", "Good", servers.url("{origin}/img/good.jpg")]],
        webhook_url=f"{servers.webhooks.base}/hook/{tag}",
    )
    assert (final["status"], counted(final)) == ("completed", {"total": 1, "done": 1, "failed": 0})

    async def delivered() -> bool:
        return bool(servers.webhooks.received(tag))

    await wait_for(delivered, "the good request's webhook", within=10)
    assert dead_processes(stack) == []


@dataclass(frozen=True)
class Batch:
    """A processed request of one row per Outcome case, and what it left behind."""

    request_id: str
    final: dict[str, Any]
    images: dict[str, dict[str, Any]]  # by case id
    rows: dict[str, int]  # case id → row index
    output: dict[str, list[str]]  # case id → output CSV row
    compressed: set[str]
    originals: set[str]


async def run_batch(
    http: aiohttp.ClientSession,
    stack: Stack,
    servers: Servers,
    store: Minio,
    outcomes: Sequence[Outcome],
    within: float = 40.0,
) -> Batch:
    """One request with one row per case (Product Name = case id), run to its end."""
    rows = [[str(n), case.id, servers.url(case.url)] for n, case in enumerate(outcomes, 1)]
    async with await upload(http, stack, csv_bytes(rows), **own_settings()) as response:
        body = await response.json()
        assert response.status == 202, body
    request_id = body["request_id"]
    # Not wait_final: a request that never finishes still shows which images are stuck.
    final = await settled(http, stack, request_id, within)
    output = []
    if final["status"] not in UNFINISHED:
        output = await output_rows(http, stack, request_id)
        assert output[0] == [*HEADER, OUTPUT_URLS_COLUMN, ERRORS_COLUMN]
    return Batch(
        request_id=request_id,
        final=final,
        images=images_by_product(final),
        rows={case.id: n for n, case in enumerate(outcomes)},
        output={row[1]: row for row in output[1:]},
        compressed=compressed_keys(store, request_id),
        originals=original_keys(store, request_id),
    )


async def settled(
    http: aiohttp.ClientSession, stack: Stack, request_id: str, within: float
) -> dict[str, Any]:
    """The request's status once it is final, or as it is after `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        status = await status_of(http, stack, request_id)
        if status["status"] not in UNFINISHED or time.monotonic() > deadline:
            return status
        await asyncio.sleep(0.2)


def check_completes_with_errors(batch: Batch, cases: Sequence[Outcome]) -> None:
    """The batch's request finished with each case's outcome counted, and only the images
    that should be done have a compressed object."""
    assert batch.final["status"] == "completed_with_errors"
    assert batch.final["error"] is None
    assert counted(batch.final) == expected_counts(cases)
    done = {stored_key(batch.images[c.id]) for c in cases if c.status == "done"}
    assert batch.compressed == done


def _unsigned(link: str) -> str:
    return link.split("?", 1)[0]


def stored_key(image: dict[str, Any]) -> str:
    """The key of the compressed object a done image's link points at."""
    return URL(image["output_url"]).path.removeprefix(f"/{COMPRESSED_BUCKET}/")


def check_outcome(batch: Batch, case: Outcome, servers: Servers) -> None:
    """The image's exact status and reason, its output CSV slot, and the objects it left."""
    url = servers.url(case.url)
    image = batch.images[case.id]
    assert (image["input_url"], image["status"], image["error"]) == (url, case.status, case.reason)
    row = batch.rows[case.id]
    assert batch.final["status"] not in UNFINISHED, "the request did not finish"
    output_urls, errors = batch.output[case.id][3:]
    compressed = image_key_of(batch.request_id, row)
    original = [k for k in batch.originals if k.startswith(f"{batch.request_id}/{row}-0.")]
    if case.status == "done":
        # The same object in both; each link is signed when it is served (X-Amz-Date is in
        # whole seconds), so the status and the CSV fetched a second apart differ in the query.
        assert image["output_url"] and _unsigned(image["output_url"]) == _unsigned(output_urls)
        assert errors == ""
        # An image of the same bytes as an earlier one in the batch has that one's output
        # (the batch's settings are its own, so nothing outside it is reused).
        assert stored_key(image) == compressed or image["reused"]
        assert stored_key(image) in batch.compressed
        assert len(original) == 1
    else:
        assert image["output_url"] is None
        assert (output_urls, errors) == ("", f"1: {case.reason}")
        assert compressed not in batch.compressed  # nothing half-written
        assert len(original) == (1 if case.original_kept else 0)
    if case.hits is not None:
        assert servers.origin.hits(URL(url).path) == case.hits


def expected_counts(outcomes: Sequence[Outcome]) -> dict[str, int]:
    done = sum(1 for case in outcomes if case.status == "done")
    return {"total": len(outcomes), "done": done, "failed": len(outcomes) - done}


def outcome_params(outcomes: Sequence[Outcome]) -> list[Any]:
    """pytest params, one per case; a case with a known bug is a strict xfail."""
    return [
        pytest.param(
            case,
            id=case.id,
            marks=[pytest.mark.xfail(reason=f"product bug: {case.bug}", strict=True)]
            if case.bug
            else [],
        )
        for case in outcomes
    ]
