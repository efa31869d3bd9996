"""The stack comes back: services wait for a database that is not up yet, and a stack whose
database holds a big run starts again (`make down`, then `make up`)."""

import signal
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from pymongo import MongoClient

from deploy.local.stack import SAMPLE_IMAGES, Stack
from deploy.local.testing import running_stack
from tests.integration.client import make_csv

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with running_stack(tmp_path / "stack", "imgpipe-restart") as stack:
        yield stack


def gateway(stack: Stack) -> str:
    return f"http://127.0.0.1:{stack.config.ports.gateway}"


def get(url: str, key: str | None = None) -> tuple[int, Any]:
    """The answer's status and JSON body (a body that is not JSON: {"not_json": its start})."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=60) as r:
            return r.status, _json(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, _json(exc.read())


def _json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return {"not_json": body[:200].decode(errors="replace")}


def ready(stack: Stack) -> bool:
    """The gateway's /readyz says ready (a 503 while it starts, or an answer that is not the
    gateway's, is not: the last one is logged for the assertion's message)."""
    status, body = get(f"{gateway(stack)}/readyz")
    print(f"/readyz: {status} {body}")
    return status == 200 and body.get("ready") is True


def until(check: Any, what: str, within: float) -> Any:
    deadline = time.monotonic() + within
    while not (result := check()):
        assert time.monotonic() < deadline, f"{what} within {within} s"
        time.sleep(0.25)
    return result


def sample_request_completes(stack: Stack, key: str) -> None:
    status, body = post_csv(stack, key, make_csv([["1", "After the restart", sample_url(stack)]]))
    assert status == 202, body
    request_completes(stack, key, body["request_id"])


def sample_url(stack: Stack) -> str:
    name = next(p.name for p in sorted(SAMPLE_IMAGES.iterdir()) if p.suffix == ".jpg")
    return f"http://127.0.0.1:{stack.config.ports.images}/{name}"


def post_csv(
    stack: Stack, key: str, data: bytes, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    """Upload `data` as the CSV; the answer's status and body (JSON when accepted)."""
    boundary = "imgpipe-boundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n'
            "Content-Type: text/csv\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    upload = urllib.request.Request(
        f"{gateway(stack)}/api/upload",
        data=body,
        headers={
            "Authorization": f"Bearer {key}",
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            **(headers or {}),
        },
    )
    try:
        with urllib.request.urlopen(upload, timeout=60) as response:
            return response.status, orjson.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def request_completes(stack: Stack, key: str, request_id: str) -> None:
    def completed() -> bool:
        status = get(f"{gateway(stack)}/api/status/{request_id}", key)[1]["status"]
        return bool(status == "completed")

    until(completed, "the request completes", 60)


def test_services_wait_for_the_database_instead_of_exiting(stack: Stack) -> None:
    key = stack.create_key("restart", "restart")
    stack.kill("secantusdb", signal.SIGTERM)  # stopped cleanly: the key above is kept
    stack.restart("gateway")  # serves (its /healthz) without the database
    stack.restart("fetcher")
    fetcher_log = stack.logs / "fetcher.log"
    until(lambda: "cannot reach the database yet" in fetcher_log.read_text(), "it says so", 30)
    status, answer = get(f"{gateway(stack)}/readyz")
    assert status == 503 and "waiting since start-up" in answer["failing"]["database"], answer
    stack.check_alive()  # neither exited

    stack.revive("secantusdb")
    until(lambda: ready(stack), "the gateway is ready", 90)
    until(lambda: "the database is reachable" in fetcher_log.read_text(), "it says so", 30)
    sample_request_completes(stack, key)


def test_the_stack_starts_again_after_a_big_run(stack: Stack) -> None:
    key = stack.create_key("restart", "restart")
    mongo: MongoClient[dict[str, Any]] = MongoClient(
        f"mongodb://127.0.0.1:{stack.config.ports.mongo}/?retryWrites=false"
    )
    try:  # what a 100,000-URL request leaves in the database
        images = mongo["imgpipe"]["images"]
        for first in range(0, 100_000, 10_000):
            images.insert_many(
                {"_id": f"big.{n}.0", "request_id": "big", "row": n, "slot": 0, "status": "failed"}
                for n in range(first, first + 10_000)
            )
    finally:
        mongo.close()
    stack.stop()  # `make down`
    stack.start()  # `make up`: the same directory, its data recovered
    until(lambda: ready(stack), "the gateway is ready", 90)
    sample_request_completes(stack, key)


def test_an_upload_retried_after_its_csv_was_not_stored_completes(stack: Stack) -> None:
    """The gateway records the request, then stores its CSV: when the store fails in between
    (or the gateway dies there), the retry with the same Idempotency-Key stores it, so the
    request it answers with is processed instead of waiting for a CSV that never comes."""
    key = stack.create_key("restart", "restart")
    data = make_csv([["1", "Stored on the retry", sample_url(stack)]])
    same = {"Idempotency-Key": f"retry-{uuid.uuid4()}"}
    stack.kill("seaweed", signal.SIGTERM)
    status, _ = post_csv(stack, key, data, same)
    assert status == 500  # the request was recorded, its CSV not stored
    stack.revive("seaweed")
    status, body = post_csv(stack, key, data, same)
    assert status == 202, body
    request_completes(stack, key, body["request_id"])
    assert "its CSV had not been stored; stored now" in (stack.logs / "gateway.log").read_text()
