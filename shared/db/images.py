"""A request's CSV rows and its images' outcomes.

Ingest writes the rows in batches, each with its image URLs, ROWS_PER_DOC rows to a document
(a page; rows stored one to a document before are read too); an image gets a document of its
own only when it finishes (one insert, in a burst with others). A pending image is a slot of a
row with no document: fan-out writes nothing per image, and finishing one is the cheapest
write there is (an insert, not an update that finds and rewrites the document and its index
entries). Rows stored before rows kept their URLs have a document per image from the start,
status pending: they are read and finished too.
"""

from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from itertools import groupby

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError

from shared.db.codec import Document, document, in_batches, now, record
from shared.names import output_key_of
from shared.records import (
    ImageRecord,
    Output,
    RowRecord,
    SourceRecord,
    image_id,
    image_place,
    row_id,
)
from shared.status import ImageStatus

_PENDING = ImageStatus.PENDING.value
ROWS_PAGE = 1000  # rows read at once, with their images' documents, going through a request
# Rows stored in one document: a store pays per document and per index entry more than per
# byte (SecantusDB spent 0.2 ms of CPU per row inserted one to a document).
ROWS_PER_DOC = 100
_DUPLICATE_KEY = 11000


@dataclass(frozen=True)
class Outcome:
    """How one image finished: done with `output`, or failed (output None) for `reason`.

    A tenant's done image also records what it was made from (`source`) and the id of its
    output's settings (`result_id`, shared/reuse.py): later requests of the tenant find them
    there (shared/db/sources.py, results.py), so they cost no writes of their own."""

    request_id: str
    image_id: str
    output: Output | None
    reason: str = ""
    source: SourceRecord | None = None
    result_id: str | None = None

    def document(self) -> Document:
        _, row, slot = image_place(self.image_id)
        if self.output is None:
            fields: Document = {"status": ImageStatus.FAILED.value, "error": self.reason}
        else:
            fields = {**document(self.output), "status": ImageStatus.DONE.value}
            if self.source is not None:
                fields["source"] = document(self.source)
                if self.result_id is not None and self.source.sha256 is not None:
                    fields["result_id"] = self.result_id
        place = {"_id": self.image_id, "request_id": self.request_id, "row": row, "slot": slot}
        return {**place, **fields, "finished_at": now()}


class PartlyFinished(Exception):
    """A burst's write failed for some images: `finished` are those it did finish."""

    def __init__(self, finished: set[str], cause: BulkWriteError) -> None:
        super().__init__(str(cause))
        self.finished = finished


def _between(first: int, count: int) -> Document:
    """Indexes from `first`, `count` of them (0: all the rest)."""
    return {"$gte": first, **({"$lt": first + count} if count else {})}


def images_of(row: RowRecord, docs: dict[tuple[int, int], Document]) -> list[ImageRecord]:
    """The row's images by slot: its documents where they have one, else pending."""
    slots = sorted({*range(len(row.urls)), *(slot for (r, slot) in docs if r == row.index)})
    images = []
    for slot in slots:
        doc = docs.get((row.index, slot))
        url = row.urls[slot] if slot < len(row.urls) else (doc or {}).get("url", "")
        if doc is None:
            doc = {"_id": image_id(row.request_id, row.index, slot), "status": _PENDING}
        fields = {"request_id": row.request_id, "row": row.index, "slot": slot, "url": url}
        images.append(record({**doc, **fields}, ImageRecord))
    return images


def _page_of(index: int) -> int:
    """The first row of the page holding row `index`."""
    return index - index % ROWS_PER_DOC


def _page_id(request_id: str, first: int) -> str:
    return f"{request_id}:rows-{first}"  # never a row_id (request:index) of a row on its own


def _page(rows: list[RowRecord]) -> Document:
    first = rows[0]
    return {
        "_id": _page_id(first.request_id, _page_of(first.index)),
        "request_id": first.request_id,
        "index": first.index,  # the page's first row, so that one index serves both shapes
        "last": rows[-1].index,
        "rows": [document(row) for row in rows],
    }


class Images:
    def __init__(self, rows: AsyncCollection[Document], images: AsyncCollection[Document]) -> None:
        self._rows = rows
        self._images = images

    async def save(self, rows: Sequence[RowRecord]) -> None:
        """Insert a batch of rows, ROWS_PER_DOC to a document; re-running it changes nothing.

        A batch holds whole pages (its first index a multiple of ROWS_PER_DOC, all but its
        last page full): a page is written once, whole. Inserts, not upserts (several times
        cheaper on a store that checks each upsert's filter): a page already there (a
        redelivered CSV) is a duplicate key, left as it is, and only that error is forgiven."""
        if not rows:
            return
        pages = [
            _page(list(page))
            for _, page in groupby(rows, key=lambda row: (row.request_id, _page_of(row.index)))
        ]
        try:
            await self._rows.insert_many(pages, ordered=False)
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
            # From the start of the page holding `first`: a page's `index` is its first row's.
            start = _page_of(first)
            query["index"] = _between(start, count and first + count - start)
        async for doc in self._rows.find(query).sort("index", ASCENDING):
            for row in doc.get("rows", [doc]):  # a page, or a row stored on its own before
                if row["index"] >= first and (not count or row["index"] < first + count):
                    yield record(row, RowRecord)

    async def has_row(self, request_id: str, index: int) -> bool:
        ids = [_page_id(request_id, _page_of(index)), row_id(request_id, index)]
        doc = await self._rows.find_one({"_id": {"$in": ids}}, {"last": 1})
        return doc is not None and index <= doc.get("last", index)

    async def by_row(
        self, request_id: str, first: int = 0, count: int = 0
    ) -> AsyncIterator[tuple[RowRecord, list[ImageRecord]]]:
        """The request's rows in order, each with its images by slot (`first`/`count`: a
        page of rows; 0: all), read ROWS_PAGE rows and their documents at a time."""
        end = first + count if count else None
        while end is None or first < end:
            page = ROWS_PAGE if end is None else min(ROWS_PAGE, end - first)
            rows = [row async for row in self.rows(request_id, first, page)]
            if not rows:
                return
            docs = await self._documents(request_id, rows[0].index, rows[-1].index + 1)
            for row in rows:
                yield row, images_of(row, docs)
            first = rows[-1].index + 1

    async def _documents(
        self, request_id: str, first_row: int, end_row: int
    ) -> dict[tuple[int, int], Document]:
        query = {"request_id": request_id, "row": {"$gte": first_row, "$lt": end_row}}
        return {(doc["row"], doc["slot"]): doc async for doc in self._images.find(query)}

    async def pending(self, request_id: str) -> AsyncIterator[ImageRecord]:
        """The request's pending images by row and slot, read a page of rows at a time."""
        async for _, images in self.by_row(request_id):
            for image in images:
                if image.status == ImageStatus.PENDING:
                    yield image

    async def is_pending(self, image_id: str) -> bool:
        """Whether the image is still to finish: its row is there and it has no outcome."""
        doc = await self._images.find_one({"_id": image_id}, {"status": 1})
        if doc is not None:
            return bool(doc["status"] == _PENDING)
        request_id, row, _ = image_place(image_id)
        return await self.has_row(request_id, row)

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

    async def count(self, request_id: str) -> dict[ImageStatus, int]:
        """How many of the request's images finished done and failed (pending ones have no
        document: the request's total minus these)."""
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

    async def finish(self, outcomes: Iterable[Outcome]) -> set[str]:
        """Record a burst of outcomes in one write; the ids of the images it finished (one
        finished before is left as it is). PartlyFinished if some could not be written."""
        # One document per image, the first outcome's: a duplicate may share its burst.
        first: dict[str, Outcome] = {}
        for outcome in outcomes:
            first.setdefault(outcome.image_id, outcome)
        docs = [outcome.document() for outcome in first.values()]
        if not docs:
            return set()
        try:
            await self._images.insert_many(docs, ordered=False)
            return {doc["_id"] for doc in docs}
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            not_inserted = {docs[e["index"]]["_id"] for e in errors}
            finished = {doc["_id"] for doc in docs} - not_inserted
            there = [docs[e["index"]] for e in errors if e.get("code") == _DUPLICATE_KEY]
            for doc in there:
                if await self._finish_stored_pending(doc):
                    finished.add(doc["_id"])
            if len(there) < len(errors):
                raise PartlyFinished(finished, exc) from exc
            return finished

    async def _finish_stored_pending(self, doc: Document) -> bool:
        """An image whose document was there already: finish it if that says pending (a row
        stored before rows kept their URLs); else it finished before."""
        fields = {name: value for name, value in doc.items() if name != "_id"}
        result = await self._images.update_one(
            {"_id": doc["_id"], "status": _PENDING}, {"$set": fields}
        )
        return result.modified_count == 1
