"""Transient failures are retried with backoff; permanent ones and exhausted retries fail the
image with a reason, and the request still completes."""

import aio_pika
import aiohttp
import pytest

from deploy.local.stack import Stack
from shared.names import FETCH_REQUESTED
from tests.integration.client import counted, make_csv, upload, wait_final
from tests.integration.conftest import RETRY_DELAYS_S, Origin

pytestmark = pytest.mark.integration

ATTEMPTS = len(RETRY_DELAYS_S.split(",")) + 1


async def test_transient_failures_are_retried(
    stack: Stack, http: aiohttp.ClientSession, origin: Origin
) -> None:
    urls = [
        origin.url("fail/2/twice/cat_chelsea_451x300.jpg"),  # 503, 503, then the image
        origin.url("retry-after/1/ra/camera_gray_512.jpg"),  # 429 Retry-After: 1, then the image
        origin.url("always/503/forever.jpg"),  # never recovers
        origin.url("always/404/gone.jpg"),  # permanent: not retried
    ]
    response = await upload(http, stack, make_csv([["1", "Flaky", ", ".join(urls)]]))
    request_id = (await response.json())["request_id"]
    status = await wait_final(http, stack, request_id)

    assert status["status"] == "completed_with_errors"
    assert counted(status) == {"total": 4, "done": 2, "failed": 2}
    twice, after, forever, gone = status["products"][0]["images"]
    assert twice["status"] == "done" and origin.hits["twice"] == 3
    assert after["status"] == "done" and origin.hits["ra"] == 2
    assert forever["status"] == "failed"
    assert forever["error"] == f"HTTP 503 Service Unavailable (after {ATTEMPTS} attempts)"
    assert origin.hits["/always/503/forever.jpg"] == ATTEMPTS
    assert gone["status"] == "failed" and gone["error"] == "HTTP 404 Not Found"
    assert origin.hits["/always/404/gone.jpg"] == 1


async def test_given_up_message_is_dead_lettered_with_reason(
    stack: Stack, http: aiohttp.ClientSession, origin: Origin
) -> None:
    url = origin.url("always/502/dead-letter.jpg")
    response = await upload(http, stack, make_csv([["1", "Dead", url]]))
    await wait_final(http, stack, (await response.json())["request_id"])

    connection = await aio_pika.connect(stack.config.amqp_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.get_queue(FETCH_REQUESTED.dead_letter_queue, ensure=False)
        # Held unacked until the connection closes, so each is seen once and none is lost.
        reasons = []
        while (message := await queue.get(fail=False, no_ack=False)) is not None:
            if url.encode() in message.body:
                reasons.append(message.headers["x-last-error"])
    assert reasons == [f"HTTP 502 Bad Gateway (after {ATTEMPTS} attempts)"]
