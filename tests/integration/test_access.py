"""API keys and tenant isolation."""

import io
import os
import subprocess
import sys
import uuid
from typing import Any

import aiohttp
import pytest
from pymongo.database import Database

from deploy.local.stack import ROOT, Stack
from shared.names import INBOX_BUCKET
from tests.integration.client import base, image_url, make_csv, s3, upload, wait_final, wait_for
from tests.integration.conftest import TENANT

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "missing API key"),
        ({"Authorization": "Bearer imgp_not-a-key"}, "invalid or revoked API key"),
        ({"X-API-Key": "imgp_not-a-key"}, "invalid or revoked API key"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "missing API key"),
    ],
)
async def test_api_needs_a_valid_key(
    stack: Stack, anonymous: aiohttp.ClientSession, headers: dict[str, str], reason: str
) -> None:
    for method, path in [
        ("POST", "/api/upload"),
        ("GET", f"/api/status/{uuid.uuid4().hex}"),
        ("GET", f"/api/download/{uuid.uuid4().hex}"),
        ("GET", "/api/requests?inbox_key=x.csv"),
    ]:
        async with anonymous.request(method, base(stack) + path, headers=headers) as response:
            assert response.status == 401, path
            assert response.headers["WWW-Authenticate"] == "Bearer"
            assert (await response.json())["error"].startswith(reason)


async def test_key_sent_as_x_api_key_works(
    stack: Stack, anonymous: aiohttp.ClientSession, api_key: str
) -> None:
    url = f"{base(stack)}/api/requests?inbox_key=none.csv"
    async with anonymous.get(url, headers={"X-API-Key": api_key}) as response:
        assert response.status == 200
        body = await response.json()
    assert (body["requests"], body["next_before"]) == ([], None)
    assert set(body["usage"]) == {"requests_in_progress", "images_today", "bytes_stored"}


async def test_other_tenants_requests_are_not_found(
    stack: Stack, http: aiohttp.ClientSession, anonymous: aiohttp.ClientSession
) -> None:
    csv = make_csv([["1", "Mine", image_url(stack, "cat_chelsea_451x300.jpg")]])
    request_id = (await (await upload(http, stack, csv)).json())["request_id"]
    await wait_final(http, stack, request_id)

    other = {"Authorization": f"Bearer {stack.create_key('someone', 'other-tenant')}"}
    for path in ("status", "download"):
        url = f"{base(stack)}/api/{path}/{request_id}"
        async with anonymous.get(url, headers=other) as response:
            assert response.status == 404
            assert response.headers["Content-Type"] == "application/json"
    async with http.get(f"{base(stack)}/api/status/{request_id}") as response:
        assert response.status == 200


async def test_revoked_key_is_refused(stack: Stack, anonymous: aiohttp.ClientSession) -> None:
    key = stack.create_key("short-lived", TENANT)
    headers = {"Authorization": f"Bearer {key}"}
    url = f"{base(stack)}/api/requests?inbox_key=x.csv"
    async with anonymous.get(url, headers=headers) as response:
        assert response.status == 200
    listing = _keys(stack, "list")
    key_id = next(line.split()[0] for line in listing.splitlines() if "short-lived" in line)
    assert f"revoked {key_id}" in _keys(stack, "revoke", key_id)
    async with anonymous.get(url, headers=headers) as response:
        assert response.status == 401
    assert "revoked" in next(line for line in _keys(stack, "list").splitlines() if key_id in line)


def test_keys_are_stored_hashed(stack: Stack, mongo: Database[dict[str, Any]]) -> None:
    key = stack.create_key("hashed", TENANT)
    stored = list(mongo["api_keys"].find())
    assert stored and not any(key in str(doc) for doc in stored)


async def test_dropped_csv_of_unknown_tenant_fails_and_is_kept(
    stack: Stack, mongo: Database[dict[str, Any]]
) -> None:
    data = make_csv([["1", "Nobody", image_url(stack, "cat_chelsea_451x300.jpg")]])
    key = f"no-such-tenant/{uuid.uuid4().hex}.csv"
    s3(stack).put_object(INBOX_BUCKET, key, io.BytesIO(data), len(data))
    requests = mongo["requests"]

    async def failed() -> dict[str, object] | None:
        return requests.find_one({"source.key": key, "status": "failed"})

    request = await wait_for(failed, "the unknown tenant's request to fail")
    assert "unknown tenant 'no-such-tenant'" in request["error"]
    assert s3(stack).stat_object(INBOX_BUCKET, key).size == len(data)  # the object is kept


def _keys(stack: Stack, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "ingest.keys", *args],
        cwd=ROOT,
        env={**os.environ, **stack.config.env()},
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout
