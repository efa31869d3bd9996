"""The records' writes on the real store (SecantusDB here, MongoDB in production)."""

import uuid

import pytest

from deploy.local.stack import Stack
from ingest.csvfile import Row
from ingest.handler import records
from shared.db import Database
from shared.records import ImageRecord

pytestmark = pytest.mark.integration


async def test_saving_a_batch_again_changes_nothing_and_saves_what_was_missing(
    stack: Stack,
) -> None:
    """A redelivered CSV saves its batches again: rows and images already there are
    duplicate keys, forgiven and left as they are; any missing are inserted."""
    db = Database(stack.config.env()["MONGO_URL"], stack.config.env()["MONGO_DB"])
    request_id = uuid.uuid4().hex
    rows = [
        Row(
            index=n,
            line=n + 2,
            serial=str(n),
            product=f"P{n}",
            urls=(f"http://x/{n}.jpg",),
            cells=("a",),
        )
        for n in range(3)
    ]
    row_records, image_records = records(request_id, rows)
    try:
        await db.images.save(row_records[:2], image_records[:2])
        await db.images.save(row_records, image_records)  # again, with one more of each
        saved = [image async for image in db.images.of_request(request_id)]
        assert [i.id for i in saved] == [i.id for i in image_records]
        assert all(isinstance(i, ImageRecord) and i.status == "pending" for i in saved)
        assert len([r async for r in db.images.rows(request_id)]) == 3
    finally:
        await db.images.delete_of_request(request_id)
        await db.close()
