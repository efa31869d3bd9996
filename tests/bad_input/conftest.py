"""The bad-input suite's own stack: own vhost, free ports, the SSRF guard on except for 127.0.0.2.

Its servers (servers.py) run in a thread: the origin and the webhook receiver on 127.0.0.2,
the allowed address, and an "internal" server on 127.0.0.1 that the guard must keep the
fetcher away from. Short retries and a 2 s fetch timeout keep the whole suite fast.
"""

from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
from minio import Minio
from pymongo import MongoClient
from pymongo.database import Database

from deploy.local.stack import Stack
from deploy.local.testing import running_stack
from tests.bad_input import cases
from tests.bad_input.payloads import payloads
from tests.bad_input.servers import (
    INTERNAL_HOST,
    ORIGIN_HOST,
    Internal,
    Origin,
    Servers,
    Webhooks,
)
from tests.integration.client import s3
from tests.server_thread import ServerThread

# checks.py holds the assertions every case shares: show their values when they fail.
pytest.register_assert_rewrite("tests.bad_input.checks")

TENANT = "bad-input"
OTHER_TENANT = "bad-input-other"


@pytest.fixture(scope="package")
def servers() -> Iterator[Servers]:
    payloads()  # made once, before the first request needs them
    thread = ServerThread()
    found = Servers(Origin(), Internal(), Webhooks())
    found.origin.base = thread.serve(found.origin.app(), ORIGIN_HOST)
    found.internal.base = thread.serve(found.internal.app(), INTERNAL_HOST)
    found.webhooks.base = thread.serve(found.webhooks.app(), ORIGIN_HOST)
    yield found
    thread.close()


@pytest.fixture(scope="package")
def stack(servers: Servers, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Needs `servers` so that it stops first: no fetch is left talking to a closed origin."""
    extra_env = {
        # The guard stays on for loopback too: only the suite's origin is allowed.
        "FETCH_ALLOW_CIDRS": f"{ORIGIN_HOST}/32",
        "MAX_IMAGE_BYTES": str(cases.MAX_IMAGE_BYTES),
        "FETCH_TIMEOUT_S": str(cases.FETCH_TIMEOUT_S),
        "RETRY_DELAYS_S": cases.RETRY_DELAYS_S,
    }
    dir = tmp_path_factory.mktemp("bad-input-stack")
    with running_stack(dir, "imgpipe-bad-input", extra_env) as stack:
        yield stack


@pytest.fixture(scope="package")
def api_key(stack: Stack) -> str:
    return stack.create_key("bad-input suite", TENANT)


@pytest.fixture(scope="package")
def other_key(stack: Stack) -> str:
    return stack.create_key("bad-input suite, another tenant", OTHER_TENANT)


@pytest.fixture(scope="package")
async def http(api_key: str) -> AsyncIterator[aiohttp.ClientSession]:
    """A client of the gateway, authenticated as the suite's tenant."""
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {api_key}"}) as session:
        yield session


@pytest.fixture(scope="package")
async def anonymous() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture(scope="package")
def mongo(stack: Stack) -> Iterator[Database[dict[str, Any]]]:
    env = stack.config.env()
    client: MongoClient[dict[str, Any]] = MongoClient(env["MONGO_URL"])
    with client:
        yield client[env["MONGO_DB"]]


@pytest.fixture(scope="package")
def store(stack: Stack) -> Minio:
    return s3(stack)
