"""A tenant's concurrency limit on the real local stack (issue 14): `ingest.keys limit`.

With the limit reached the upload answers 429 with Retry-After and a message naming the
limit; nothing is stored for it; once a request finishes the next upload is accepted; another
tenant is not held back by it.
"""

import uuid

import aiohttp
import pytest

from deploy.local.stack import Stack
from tests.integration.client import base, image_url, make_csv, upload, wait_final
from tests.integration.conftest import Origin

pytestmark = pytest.mark.integration


async def test_an_upload_over_the_concurrency_limit_answers_429(
    stack: Stack, origin: Origin
) -> None:
    tenant = f"quota-{uuid.uuid4().hex[:8]}"
    headers = {"Authorization": f"Bearer {stack.create_key('quota', tenant)}"}
    stack.limit(tenant, 1)
    slow = make_csv([["1", "Slow", origin.url(f"slow/3000/{tenant}/cat_chelsea_451x300.jpg")]])
    quick = make_csv([["1", "Cat", image_url(stack, "cat_chelsea_451x300.jpg")]])
    async with aiohttp.ClientSession(headers=headers) as http:
        async with await upload(http, stack, slow) as response:
            assert response.status == 202
            first = (await response.json())["request_id"]
        async with await upload(http, stack, quick) as response:
            assert response.status == 429
            assert response.headers["Retry-After"] == "5"
            assert (await response.json())["error"] == (
                f"tenant {tenant} has 1 requests in progress, its limit (max_concurrent); "
                "try again when one finishes"
            )
        async with http.get(f"{base(stack)}/api/requests") as listed:
            assert [r["request_id"] for r in (await listed.json())["requests"]] == [first]
        await wait_final(http, stack, first)
        async with await upload(http, stack, quick) as response:
            assert response.status == 202
        stack.limit(tenant, 0)  # no limit again
