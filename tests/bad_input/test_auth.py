"""API keys and request ids: missing, wrong, another tenant's, malformed."""

from typing import Any

import aiohttp
import pytest
from minio import Minio
from pymongo.database import Database

from deploy.local.stack import Stack
from tests.bad_input.cases import AUTH, Auth, csv_bytes
from tests.bad_input.checks import assert_keeps_serving, process, stored
from tests.bad_input.servers import Servers
from tests.integration.client import base

pytestmark = pytest.mark.bad_input


@pytest.fixture(scope="module")
async def own_request(stack: Stack, http: aiohttp.ClientSession, servers: Servers) -> str:
    """A finished request of the suite's tenant."""
    final = await process(http, stack, [["1", "Mug", servers.url("{origin}/img/good.jpg")]])
    request_id: str = final["request_id"]
    return request_id


@pytest.mark.parametrize("case", AUTH, ids=lambda case: case.id)
async def test_access(
    case: Auth,
    stack: Stack,
    anonymous: aiohttp.ClientSession,
    api_key: str,
    other_key: str,
    own_request: str,
    servers: Servers,
    mongo: Database[dict[str, Any]],
    store: Minio,
) -> None:
    keys = {"none": None, "bad": "imgp_not-a-key", "own": api_key, "other": other_key}
    key = keys[case.key]
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    path = case.path.format(own=own_request, own_upper=own_request.upper())
    data = None
    if case.method == "POST":
        data = aiohttp.FormData()
        csv = csv_bytes([["1", "Mug", servers.url("{origin}/img/good.jpg")]])
        data.add_field("file", csv, filename="products.csv", content_type="text/csv")
    before = stored(mongo, store)
    url = base(stack) + path
    async with anonymous.request(case.method, url, headers=headers, data=data) as response:
        answer = (response.status, response.content_type, await response.json())
        challenge = response.headers.get("WWW-Authenticate")
    error = case.error.format(id=path.rsplit("/", 1)[-1])
    assert answer == (case.status, "application/json", {"error": error})
    assert challenge == ("Bearer" if case.status == 401 else None)
    assert stored(mongo, store) == before


async def test_keeps_serving(stack: Stack, http: aiohttp.ClientSession, servers: Servers) -> None:
    await assert_keeps_serving(stack, http, servers)
