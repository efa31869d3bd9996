"""The records' writes on the real store (SecantusDB here, MongoDB in production)."""

import uuid
from datetime import UTC, datetime

import pytest

from deploy.local.stack import Stack
from ingest.csvfile import Row
from ingest.handler import records
from shared.db import Database
from shared.db.codec import IN_QUERY_VALUES
from shared.records import ImageRecord, SourceRecord, source_id

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


async def test_lookups_of_many_urls_find_each_stored_one(stack: Stack) -> None:
    """A fan-out window asks for more URLs than one `$in` query holds (IN_QUERY_VALUES):
    every stored source is found, those of another tenant and those never stored are not."""
    db = Database(stack.config.env()["MONGO_URL"], stack.config.env()["MONGO_DB"])
    tenant, other = f"t-{uuid.uuid4().hex[:8]}", f"o-{uuid.uuid4().hex[:8]}"
    urls = [f"http://origin/{uuid.uuid4().hex}/{n}.jpg" for n in range(2 * IN_QUERY_VALUES + 50)]

    def source(owner: str, url: str) -> SourceRecord:
        return SourceRecord(
            id=source_id(owner, url),
            tenant=owner,
            url=url,
            etag='"e"',
            original_key=f"{owner}/x.jpg",
            content_type="image/jpeg",
            extension="jpg",
            stored_at=datetime.now(UTC),
        )

    stored = urls[::2]  # every other URL, across every batch
    try:
        for url in stored:
            await db.sources.remember(source(tenant, url))
        await db.sources.remember(source(other, urls[1]))
        found = await db.sources.of_urls(tenant, urls)
        assert sorted(found) == sorted(stored)
        assert all(found[url].tenant == tenant for url in stored)
        theirs = await db.sources.of_urls(other, urls)
        assert list(theirs) == [urls[1]] and theirs[urls[1]].tenant == other
    finally:
        for url in urls:
            await db.sources.forget(tenant, url)
        await db.sources.forget(other, urls[1])
        await db.close()
