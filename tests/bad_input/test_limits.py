"""Bad limits given to `python -m ingest.keys limit`, and CSVs over a tenant's limit."""

import io
import os
import subprocess
import sys
import uuid
from typing import Any

import aiohttp
import pytest
from minio import Minio
from pymongo.database import Database

from deploy.local.stack import ROOT, Stack
from shared.names import INBOX_BUCKET
from tests.bad_input.cases import BAD_LIMITS, HEADER, OVER_QUOTA, BadLimit, OverQuota, csv_bytes
from tests.bad_input.checks import assert_keeps_serving, stored
from tests.bad_input.conftest import TENANT
from tests.bad_input.servers import Servers
from tests.integration.client import base, upload, wait_final, wait_for

pytestmark = pytest.mark.bad_input
USAGE_START = "usage: python -m ingest.keys limit "


@pytest.mark.parametrize("case", BAD_LIMITS, ids=[c.id for c in BAD_LIMITS])
def test_bad_limits_are_refused(
    case: BadLimit, stack: Stack, api_key: str, mongo: Database[dict[str, Any]]
) -> None:
    stack.limit(TENANT, concurrent=50)  # a limit there to keep (the key exists: api_key)
    before = list(mongo["tenants"].find({}))
    argv = [arg.format(tenant=TENANT) for arg in case.argv]
    done = subprocess.run(
        [sys.executable, "-m", "ingest.keys", "limit", *argv],
        cwd=ROOT,
        env={**os.environ, **stack.config.env()},
        capture_output=True,
        text=True,
    )
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.startswith(USAGE_START), done.stderr
    assert done.stderr.endswith(f"python -m ingest.keys limit: error: {case.error}\n")
    assert list(mongo["tenants"].find({})) == before


@pytest.mark.parametrize("case", OVER_QUOTA, ids=[c.id for c in OVER_QUOTA])
async def test_a_csv_over_a_limit_is_refused(
    case: OverQuota,
    stack: Stack,
    servers: Servers,
    mongo: Database[dict[str, Any]],
    store: Minio,
) -> None:
    tenant = f"bad-input-{case.id}"
    key = stack.create_key(case.id, tenant)
    stack.limit(tenant, images_per_day=case.per_day)
    good = servers.url("{origin}/img/good.jpg")
    rows = [[str(i), case.id, f"{good}?{i}"] for i in range(case.images)]
    data = csv_bytes(rows, HEADER)
    error = case.error.format(tenant=tenant)
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {key}"}) as http:
        if case.status is not None:
            before = stored(mongo, store)
            async with await upload(http, stack, data) as response:
                answer = (response.status, await response.json())
            assert answer == (case.status, {"error": error})
            assert stored(mongo, store) == before
        else:
            inbox_key = f"{tenant}/{uuid.uuid4().hex}.csv"
            store.put_object(INBOX_BUCKET, inbox_key, io.BytesIO(data), len(data))

            async def made() -> list[dict[str, Any]]:
                query = {"inbox_key": inbox_key}
                async with http.get(f"{base(stack)}/api/requests", params=query) as r:
                    found: list[dict[str, Any]] = (await r.json())["requests"]
                    return found

            (request,) = await wait_for(made, "the dropped CSV's request")
            status = await wait_final(http, stack, request["request_id"])
            assert (status["status"], status["error"]) == ("failed", error)
            assert store.stat_object(INBOX_BUCKET, inbox_key).size == len(data)  # kept
            assert status["usage"]["images_today"] == {"used": 0, "limit": case.per_day}


async def test_keeps_serving(stack: Stack, http: aiohttp.ClientSession, servers: Servers) -> None:
    await assert_keeps_serving(stack, http, servers)
