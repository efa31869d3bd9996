"""Image URLs the fetcher must refuse or give up on: one request, one row per case."""

from collections.abc import AsyncIterator

import aiohttp
import pytest
from minio import Minio

from deploy.local.stack import Stack
from tests.bad_input.cases import URLS, Outcome
from tests.bad_input.checks import (
    Batch,
    assert_keeps_serving,
    check_completes_with_errors,
    check_outcome,
    outcome_params,
    run_batch,
)
from tests.bad_input.servers import Servers

pytestmark = pytest.mark.bad_input


@pytest.fixture(scope="module")
async def batch(
    stack: Stack, http: aiohttp.ClientSession, servers: Servers, store: Minio
) -> AsyncIterator[Batch]:
    yield await run_batch(http, stack, servers, store, URLS)


@pytest.mark.parametrize("case", outcome_params(URLS))
def test_url(case: Outcome, batch: Batch, servers: Servers) -> None:
    check_outcome(batch, case, servers)


def test_request_completes_with_errors(batch: Batch) -> None:
    check_completes_with_errors(batch, URLS)


def test_guard_kept_the_fetcher_away_from_the_internal_server(
    batch: Batch, servers: Servers
) -> None:
    assert servers.internal.total_hits() == 0


async def test_keeps_serving(
    batch: Batch, stack: Stack, http: aiohttp.ClientSession, servers: Servers
) -> None:
    await assert_keeps_serving(stack, http, servers)
