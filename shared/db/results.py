"""Compressed outputs by source and settings, per tenant, for reuse (shared/reuse.py): read
from the done images that made them or reused them, each of which records its `result_id`
with its outcome (shared/db/images.py), so a result costs no write of its own."""

from pymongo import DESCENDING
from pymongo.asynchronous.collection import AsyncCollection

from shared.db.codec import Document, in_batches, record
from shared.records import ResultRecord
from shared.status import ImageStatus

_LATEST = [("finished_at", DESCENDING)]
_FIELDS = [
    "result_id", "source", "bytes_in", "compressed_key", "variants", "format", "quality",
    "kept_source", "score", "score_whole", "width", "height", "frames", "made_at",
    "finished_at",
]  # fmt: skip


def _made(ids: object) -> Document:
    return {"result_id": ids, "status": ImageStatus.DONE.value}


def result_of(doc: Document) -> ResultRecord:
    """The output a done image's document points at, as a result to reuse."""
    source = doc["source"]
    return record(
        {
            **doc,
            "_id": doc["result_id"],
            "tenant": source["tenant"],
            "source_sha256": source["sha256"],
            "source_bytes": doc["bytes_in"],
            # A reused output's made_at is its first image's (it is the same object).
            "stored_at": doc.get("made_at") or doc["finished_at"],
        },
        ResultRecord,
    )


class Results:
    def __init__(self, images: AsyncCollection[Document]) -> None:
        self._images = images

    async def get(self, result_id: str) -> ResultRecord | None:
        doc = await self._images.find_one(_made(result_id), _FIELDS, sort=_LATEST)
        return None if doc is None else result_of(doc)

    async def of_ids(self, result_ids: list[str]) -> dict[str, ResultRecord]:
        """Those of these results that are stored, by id (a query per IN_QUERY_VALUES)."""
        found: dict[str, ResultRecord] = {}
        for ids in in_batches(sorted(set(result_ids))):
            cursor = self._images.find(_made({"$in": ids}), _FIELDS, sort=_LATEST)
            async for doc in cursor:
                if doc["result_id"] not in found:
                    found[doc["result_id"]] = result_of(doc)
        return found
