"""A request's CSV rows and its images: written in batches by ingest, finished one by one."""

from collections.abc import AsyncIterator, Sequence

from pymongo import ASCENDING, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError

from shared.db.codec import Document, document, in_batches, now, record
from shared.names import output_key_of
from shared.records import ImageRecord, Output, RequestRecord, RowRecord, row_id
from shared.status import ImageStatus

_PENDING = ImageStatus.PENDING.value
ROWS_PAGE = 1000  # rows whose images one query reads, when going through a whole request
# Rows to go through for a request stored before its row count was (the most a CSV may have
# had then; an empty range costs a query that finds nothing).
_UNKNOWN_ROWS = 100_000
_DUPLICATE_KEY = 11000


def _between(first: int, count: int) -> Document:
    """Indexes from `first`, `count` of them (0: all the rest)."""
    return {"$gte": first, **({"$lt": first + count} if count else {})}


class Images:
    def __init__(self, rows: AsyncCollection[Document], images: AsyncCollection[Document]) -> None:
        self._rows = rows
        self._images = images

    async def save(self, rows: Sequence[RowRecord], images: Sequence[ImageRecord]) -> None:
        """Insert a batch of rows and images; re-running a batch changes nothing.

        Inserts, not upserts (several times cheaper on a store that checks each upsert's
        filter): a document already there (a redelivered CSV) is a duplicate key, left as it
        is, and only that error is forgiven."""
        for collection, records in ((self._rows, rows), (self._images, images)):
            if not records:
                continue
            try:
                await collection.insert_many([document(r) for r in records], ordered=False)
            except BulkWriteError as exc:
                errors = exc.details.get("writeErrors", [])
                if not errors or any(e.get("code") != _DUPLICATE_KEY for e in errors):
                    raise

    async def rows(
        self, request_id: str, first: int = 0, count: int = 0
    ) -> AsyncIterator[RowRecord]:
        """The request's rows in order; `first`/`count` page through them (0: all)."""
        query: Document = {"request_id": request_id}
        if first or count:
            query["index"] = _between(first, count)
        async for doc in self._rows.find(query).sort("index", ASCENDING):
            yield record(doc, RowRecord)

    async def has_row(self, request_id: str, index: int) -> bool:
        return await self._rows.find_one({"_id": row_id(request_id, index)}, {"_id": 1}) is not None

    async def of_request(
        self, request_id: str, first_row: int = 0, row_count: int = 0
    ) -> AsyncIterator[ImageRecord]:
        """The request's images by row and slot (or those of a page of rows)."""
        query: Document = {"request_id": request_id}
        if first_row or row_count:
            query["row"] = _between(first_row, row_count)
        cursor = self._images.find(query).sort([("row", ASCENDING), ("slot", ASCENDING)])
        async for doc in cursor:
            yield record(doc, ImageRecord)

    async def pending(self, request: RequestRecord) -> AsyncIterator[ImageRecord]:
        """The request's pending images by row and slot, read a page of rows at a time.

        Not one query on the status: a store may answer that by reading every pending image
        of the request first (SecantusDB does, for seconds on a 100,000-image request, while
        its one lock stalls every other caller); a page of rows is bounded work on any store.
        """
        for first in range(0, request.rows or _UNKNOWN_ROWS, ROWS_PAGE):
            async for image in self.of_request(request.id, first, ROWS_PAGE):
                if image.status == ImageStatus.PENDING:
                    yield image

    async def is_pending(self, image_id: str) -> bool:
        query = {"_id": image_id, "status": _PENDING}
        return await self._images.find_one(query, {"_id": 1}) is not None

    async def borrowed(self, request_id: str) -> set[str]:
        """Other requests' outputs (and their variants) this one's images reused."""
        own = f"{request_id}/"
        keys: set[str] = set()
        fields = {"compressed_key": 1, "variants.key": 1}
        async for doc in self._images.find({"request_id": request_id, "reused": True}, fields):
            keys |= {doc["compressed_key"], *(v["key"] for v in doc.get("variants", []))}
        return {key for key in keys if not key.startswith(own)}

    async def used_by_others(self, request_id: str, keys: Sequence[str]) -> set[str]:
        """Which of these compressed keys (outputs, their variants) another request's images
        point at: a reused output is the same object (shared/reuse.py)."""
        used: set[str] = set()
        for outputs in in_batches(sorted({output_key_of(key) for key in keys})):
            query = {"request_id": {"$ne": request_id}, "compressed_key": {"$in": outputs}}
            async for doc in self._images.find(query, {"compressed_key": 1}):
                used.add(doc["compressed_key"])
        return {key for key in keys if output_key_of(key) in used}

    async def delete_of_request(self, request_id: str) -> None:
        """Every image and row of the request."""
        await self._images.delete_many({"request_id": request_id})
        await self._rows.delete_many({"request_id": request_id})

    async def any_pending(self, request_id: str) -> bool:
        query = {"request_id": request_id, "status": _PENDING}
        return await self._images.find_one(query, {"_id": 1}) is not None

    async def count(self, request_id: str) -> dict[ImageStatus, int]:
        """How many of the request's images are in each status."""
        pipeline: list[Document] = [
            {"$match": {"request_id": request_id}},
            {"$group": {"_id": "$status", "n": {"$sum": 1}}},
        ]
        cursor = await self._images.aggregate(pipeline)
        return {ImageStatus(doc["_id"]): int(doc["n"]) async for doc in cursor}

    async def count_reuse(self, request_id: str) -> tuple[int, int]:
        """(revalidated, reused): how many of the request's images were revalidated (304) and
        how many outputs were reused."""
        revalidated = await self._images.count_documents(
            {"request_id": request_id, "revalidated": True}
        )
        reused = await self._images.count_documents({"request_id": request_id, "reused": True})
        return revalidated, reused

    async def finish_done(self, image_id: str, output: Output) -> bool:
        """Record an image's output once; True only for the call that finished it."""
        return await self._finish(image_id, ImageStatus.DONE, document(output))

    async def finish_many_done(self, finished: Sequence[tuple[str, Output]]) -> int:
        """Record several images' outputs in one write; how many it finished (an image
        finished already is left as it is)."""
        writes = [
            UpdateOne(
                {"_id": image_id, "status": _PENDING},
                {
                    "$set": {
                        **document(output),
                        "status": ImageStatus.DONE.value,
                        "finished_at": now(),
                    }
                },
            )
            for image_id, output in finished
        ]
        result = await self._images.bulk_write(writes, ordered=False)
        return result.modified_count

    async def finish_failed(self, image_id: str, reason: str) -> bool:
        """Record why an image failed, once; True only for the call that finished it."""
        return await self._finish(image_id, ImageStatus.FAILED, {"error": reason})

    async def _finish(self, image_id: str, status: ImageStatus, fields: Document) -> bool:
        result = await self._images.update_one(
            {"_id": image_id, "status": _PENDING},
            {"$set": {**fields, "status": status.value, "finished_at": now()}},
        )
        return result.modified_count == 1
