"""The reconciler finishes requests whose events were lost."""

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aio_pika
import aiohttp
import pytest
from pymongo.database import Database

from deploy.local.stack import Stack
from shared.names import (
    BUCKET_EVENTS_EXCHANGE,
    BUCKET_ROUTING_KEYS,
    COMPRESSED_BUCKET,
    IMAGE_COMPRESSED,
)
from tests.integration.client import (
    base,
    counted,
    image_url,
    make_csv,
    s3,
    status_of,
    upload,
    wait_final,
    wait_for,
)
from tests.integration.conftest import TENANT

pytestmark = pytest.mark.integration


async def test_lost_bucket_events_are_announced_again(
    stack: Stack, http: aiohttp.ClientSession, sample_data: Path
) -> None:
    names = ["cat_chelsea_451x300.jpg", "camera_gray_512.jpg"]
    routing_key = BUCKET_ROUTING_KEYS[COMPRESSED_BUCKET]
    connection = await aio_pika.connect(stack.config.amqp_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.get_queue(IMAGE_COMPRESSED.name, ensure=False)
        # Unroutable events are dropped, as MinIO drops them: these are lost for good.
        await queue.unbind(BUCKET_EVENTS_EXCHANGE, routing_key)
        try:
            csv = make_csv([["1", "Lost", ", ".join(image_url(stack, n) for n in names)]])
            uploaded = await upload(http, stack, csv, format="webp")
            request_id = (await uploaded.json())["request_id"]

            async def compressed() -> bool:
                keys = list(s3(stack).list_objects(COMPRESSED_BUCKET, f"{request_id}/"))
                return len(keys) == len(names)

            await wait_for(compressed, "both compressed objects")
            assert (await status_of(http, stack, request_id))["status"] == "processing"
        finally:
            await queue.bind(BUCKET_EVENTS_EXCHANGE, routing_key)

    status = await wait_final(http, stack, request_id, within=60)
    assert status["status"] == "completed"
    assert counted(status) == {"total": 2, "done": 2, "failed": 0}
    # The re-announced objects carry their metadata: format and the moments so far.
    for image in status["products"][0]["images"]:
        assert image["format"] == "webp" and image["output_url"].split("?")[0].endswith(".webp")
        assert {"fetched", "compressed", "notify_started"} <= set(image["timeline"])


async def test_upload_that_never_reached_the_inbox_fails(
    stack: Stack, http: aiohttp.ClientSession, mongo: Database[dict[str, Any]]
) -> None:
    # What a gateway crash between recording the request and storing its CSV leaves behind.
    request_id = uuid.uuid4().hex
    long_ago = datetime.now(UTC) - timedelta(hours=1)
    mongo["requests"].insert_one(
        {
            "_id": request_id,
            "tenant": TENANT,
            "status": "pending",
            "source": {"bucket": "csv-inbox", "key": f"uploads/{request_id}.csv"},
            "quality": 50,
            "webhook_url": None,
            "total": 0,
            "done": 0,
            "failed": 0,
            "created_at": long_ago,
            "updated_at": long_ago,
        }
    )
    status = await wait_final(http, stack, request_id, within=30)
    assert status["status"] == "failed"
    assert status["error"] == "the uploaded CSV never reached the inbox bucket"


async def test_download_of_an_unfinished_request_is_409(
    stack: Stack, http: aiohttp.ClientSession, mongo: Database[dict[str, Any]]
) -> None:
    request_id = uuid.uuid4().hex
    moment = datetime.now(UTC)
    mongo["requests"].insert_one(
        {
            "_id": request_id,
            "tenant": TENANT,
            "status": "processing",
            "fanned_out": True,
            "total": 3,
            "done": 1,
            "failed": 0,
            "created_at": moment,
            "updated_at": moment + timedelta(hours=1),  # not the reconciler's business
        }
    )
    async with http.get(f"{base(stack)}/api/download/{request_id}") as response:
        assert response.status == 409
        assert "processing" in (await response.json())["error"]
