"""The records' writes on the real store (SecantusDB here, MongoDB in production)."""

import uuid
from datetime import UTC, datetime

import pytest
from pymongo import AsyncMongoClient

from deploy.local.stack import Stack
from ingest.csvfile import Row
from ingest.handler import records
from shared.db import Database
from shared.db import images as images_module
from shared.db.codec import IN_QUERY_VALUES
from shared.db.images import ROWS_PER_DOC, Outcome
from shared.records import Output, SourceRecord, image_id, source_id
from shared.status import ImageStatus

pytestmark = pytest.mark.integration


def rows_of(count: int, urls_each: int = 1) -> list[Row]:
    return [
        Row(
            index=n,
            line=n + 2,
            serial=str(n),
            product=f"P{n}",
            urls=tuple(f"http://x/{n}-{k}.jpg" for k in range(urls_each)),
            cells=("a",),
        )
        for n in range(count)
    ]


def done(n: int) -> Output:
    return Output(compressed_key=f"k/{n}.jpg", bytes_in=100, bytes_out=10 + n)


async def test_saving_a_batch_again_changes_nothing_and_saves_what_was_missing(
    stack: Stack,
) -> None:
    """A redelivered CSV saves its batches again: pages of rows already there (a batch half
    written before a crash) are duplicate keys, forgiven and left as they are; the missing
    ones are inserted. Their images are pending."""
    db = Database(stack.config.env()["MONGO_URL"], stack.config.env()["MONGO_DB"])
    request_id = uuid.uuid4().hex
    count = ROWS_PER_DOC + ROWS_PER_DOC // 2  # a full page and half of one
    row_records = records(request_id, rows_of(count, urls_each=2))
    try:
        await db.images.save(row_records[ROWS_PER_DOC:])  # the second page got in before
        await db.images.save(row_records)  # again, whole
        pairs = [pair async for pair in db.images.by_row(request_id)]
        assert [row for row, _ in pairs] == row_records
        images = [image for _, row_images in pairs for image in row_images]
        assert [i.id for i in images] == [
            image_id(request_id, n, k) for n in range(count) for k in (0, 1)
        ]
        assert [i.url for i in images] == [url for r in row_records for url in r.urls]
        assert all(i.status == ImageStatus.PENDING for i in images)
        assert await db.images.is_pending(image_id(request_id, count - 1, 1))
        assert not await db.images.is_pending(image_id(request_id, count, 0))  # no such row
        assert await db.images.has_row(request_id, ROWS_PER_DOC - 1)
        assert await db.images.has_row(request_id, ROWS_PER_DOC)
        assert not await db.images.has_row(request_id, count)
        # A page of rows across two documents, from anywhere in the first.
        first, many = ROWS_PER_DOC - 3, 7
        page = [row async for row in db.images.rows(request_id, first, many)]
        assert page == row_records[first : first + many]
    finally:
        await db.images.delete_of_request(request_id)
        await db.close()


async def test_an_image_finishes_once_and_the_counts_follow(stack: Stack) -> None:
    """An outcome is written once: a second one for the same image (a duplicate message)
    finishes nothing, and what the first wrote stays."""
    db = Database(stack.config.env()["MONGO_URL"], stack.config.env()["MONGO_DB"])
    request_id = uuid.uuid4().hex
    await db.images.save(records(request_id, rows_of(5)))
    ids = [image_id(request_id, n, 0) for n in range(5)]
    try:
        first = [Outcome(request_id, ids[0], done(0)), Outcome(request_id, ids[1], None, "404")]
        assert await db.images.finish(first) == {ids[0], ids[1]}
        again = [Outcome(request_id, ids[0], done(99)), Outcome(request_id, ids[2], done(2))]
        assert await db.images.finish(again) == {ids[2]}
        assert await db.images.finish([]) == set()
        twice = [Outcome(request_id, ids[4], None, "a"), Outcome(request_id, ids[4], done(4))]
        assert await db.images.finish(twice) == {ids[4]}  # the first of the two is written
        assert await db.images.count(request_id) == {
            ImageStatus.DONE: 2,
            ImageStatus.FAILED: 2,
        }

        images = [i async for i in db.images.pending(request_id)]
        assert [i.id for i in images] == [ids[3]]
        assert [await db.images.is_pending(i) for i in ids] == [False, False, False, True, False]
        statuses = {i.id: i async for _, row in db.images.by_row(request_id) for i in row}
        assert statuses[ids[0]].bytes_out == 10  # the first outcome's
        assert (statuses[ids[1]].status, statuses[ids[1]].error) == (ImageStatus.FAILED, "404")
        assert statuses[ids[1]].url == "http://x/1-0.jpg"
    finally:
        await db.images.delete_of_request(request_id)
        await db.close()


async def test_images_stored_pending_by_earlier_code_read_and_finish(stack: Stack) -> None:
    """Rows stored before rows kept their URLs have a pending document per image: they are
    read as such and finished once, like the others."""
    db = Database(stack.config.env()["MONGO_URL"], stack.config.env()["MONGO_DB"])
    request_id = uuid.uuid4().hex
    env = stack.config.env()
    mongo = AsyncMongoClient(env["MONGO_URL"])[env["MONGO_DB"]]  # the older shape, directly
    ids = [image_id(request_id, 0, k) for k in (0, 1)]
    await mongo["rows"].insert_one(
        {
            "_id": f"{request_id}:0",
            "request_id": request_id,
            "index": 0,
            "serial": "1",
            "product": "P",
            "cells": ["1", "P", "a, b"],
        }
    )
    await mongo["images"].insert_many(
        [
            {
                "_id": ids[k],
                "request_id": request_id,
                "row": 0,
                "slot": k,
                "url": url,
                "status": "pending",
            }
            for k, url in enumerate(("http://old/a.jpg", "http://old/b.jpg"))
        ]
    )
    try:
        assert await db.images.has_row(request_id, 0)  # a row on its own, not in a page
        assert not await db.images.has_row(request_id, 1)
        assert await db.images.is_pending(ids[0])
        assert await db.images.finish([Outcome(request_id, ids[0], done(0))]) == {ids[0]}
        assert await db.images.finish([Outcome(request_id, ids[0], done(1))]) == set()
        assert not await db.images.is_pending(ids[0])
        ((_, images),) = [pair async for pair in db.images.by_row(request_id)]
        assert [(i.url, i.status) for i in images] == [
            ("http://old/a.jpg", ImageStatus.DONE),
            ("http://old/b.jpg", ImageStatus.PENDING),
        ]
        assert images[0].compressed_key == "k/0.jpg"
    finally:
        await db.images.delete_of_request(request_id)
        await db.close()
        await mongo.client.close()


async def test_a_page_of_rows_reads_its_own_outcomes(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Paging (the status's `offset`/`limit`, and whole requests read a page at a time)
    pairs each row with its own images across page boundaries."""
    monkeypatch.setattr(images_module, "ROWS_PAGE", 3)
    db = Database(stack.config.env()["MONGO_URL"], stack.config.env()["MONGO_DB"])
    request_id = uuid.uuid4().hex
    await db.images.save(records(request_id, rows_of(8, urls_each=2)))
    finished = [Outcome(request_id, image_id(request_id, n, 1), done(n)) for n in (2, 3, 7)]
    await db.images.finish(finished)
    try:
        everything = [
            (row.index, [i.status for i in imgs])
            async for row, imgs in db.images.by_row(request_id)
        ]
        assert [index for index, _ in everything] == list(range(8))
        assert {index for index, s in everything if s == ["pending", "done"]} == {2, 3, 7}
        page = [(row.index, len(imgs)) async for row, imgs in db.images.by_row(request_id, 2, 5)]
        assert page == [(n, 2) for n in range(2, 7)]
        assert [r async for r in db.images.by_row(request_id, 8, 5)] == []
    finally:
        await db.images.delete_of_request(request_id)
        await db.close()


async def test_lookups_of_many_urls_find_each_stored_one(stack: Stack) -> None:
    """A fan-out window asks for more URLs than one `$in` query holds (IN_QUERY_VALUES):
    every source a done image recorded is found, the URL's latest standing for it; those of
    another tenant, of failed images and of URLs never fetched are not."""
    db = Database(stack.config.env()["MONGO_URL"], stack.config.env()["MONGO_DB"])
    tenant, other = f"t-{uuid.uuid4().hex[:8]}", f"o-{uuid.uuid4().hex[:8]}"
    urls = [f"http://origin/{uuid.uuid4().hex}/{n}.jpg" for n in range(2 * IN_QUERY_VALUES + 50)]
    first, second = f"a{uuid.uuid4().hex[:15]}", f"b{uuid.uuid4().hex[:15]}"

    def source(owner: str, url: str, etag: str | None) -> SourceRecord:
        return SourceRecord(
            id=source_id(owner, url),
            tenant=owner,
            etag=etag,
            original_key=f"{owner}/x.jpg",
            content_type="image/jpeg",
            extension="jpg",
            sha256="ab" * 32,
            bytes=5,
            stored_at=datetime.now(UTC),
        )

    def done(request_id: str, n: int, made_from: SourceRecord) -> Outcome:
        output = Output(compressed_key=f"{request_id}/{n}-0.jpg", bytes_in=5, bytes_out=3)
        return Outcome(request_id, f"{request_id}.{n}.0", output, "", made_from, f"r{n}")

    stored = urls[::2]  # every other URL, across every batch
    try:
        await db.images.finish(
            done(first, n, source(tenant, url, '"1"')) for n, url in enumerate(urls) if n % 2 == 0
        )
        # Later: the first of them again (its origin now sends no validators), another
        # tenant's image of urls[1], and a failed image of urls[3].
        await db.images.finish(
            [
                done(second, 0, source(tenant, urls[0], None)),
                done(second, 1, source(other, urls[1], '"o"')),
                Outcome(second, f"{second}.3.0", None, "HTTP 404"),
            ]
        )
        found = await db.sources.of_urls(tenant, urls)
        assert sorted(found) == sorted(stored)
        assert all(found[url].tenant == tenant for url in stored)
        assert found[urls[0]].etag is None and found[urls[2]].etag == '"1"'
        assert await db.sources.get(tenant, urls[0]) == found[urls[0]]
        theirs = await db.sources.of_urls(other, urls)
        assert list(theirs) == [urls[1]] and theirs[urls[1]].etag == '"o"'
        results = await db.results.of_ids(["r2", "r0", "r1", "nothing"])
        assert sorted(results) == ["r0", "r1", "r2"]
        # r0: made by `first`, reused by `second` later: the latest stands for it.
        assert results["r0"].compressed_key == f"{second}/0-0.jpg"
        assert await db.results.get("r0") == results["r0"]
    finally:
        await db.images.delete_of_request(first)
        await db.images.delete_of_request(second)
        await db.close()
