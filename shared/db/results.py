"""Compressed outputs by source and settings, per tenant, for reuse (compressor/reuse.py)."""

from pymongo.asynchronous.collection import AsyncCollection

from shared.db.codec import Document, document, maybe, record
from shared.records import ResultRecord


class Results:
    def __init__(self, results: AsyncCollection[Document]) -> None:
        self._results = results

    async def get(self, result_id: str) -> ResultRecord | None:
        return maybe(await self._results.find_one({"_id": result_id}), ResultRecord)

    async def of_ids(self, result_ids: list[str]) -> dict[str, ResultRecord]:
        """Those of these results that are stored, by id (one query)."""
        cursor = self._results.find({"_id": {"$in": sorted(set(result_ids))}})
        return {r.id: r for r in [record(doc, ResultRecord) async for doc in cursor]}

    async def remember(self, result: ResultRecord) -> None:
        await self._results.replace_one({"_id": result.id}, document(result), upsert=True)
