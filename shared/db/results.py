"""Compressed outputs by source and settings, per tenant, for reuse (compressor/reuse.py)."""

from pymongo.asynchronous.collection import AsyncCollection

from shared.db.codec import Document, document, in_batches, maybe, record
from shared.records import ResultRecord


class Results:
    def __init__(self, results: AsyncCollection[Document]) -> None:
        self._results = results

    async def get(self, result_id: str) -> ResultRecord | None:
        return maybe(await self._results.find_one({"_id": result_id}), ResultRecord)

    async def of_ids(self, result_ids: list[str]) -> dict[str, ResultRecord]:
        """Those of these results that are stored, by id (a query per IN_QUERY_VALUES)."""
        found: dict[str, ResultRecord] = {}
        for ids in in_batches(sorted(set(result_ids))):
            async for doc in self._results.find({"_id": {"$in": ids}}):
                result = record(doc, ResultRecord)
                found[result.id] = result
        return found

    async def remember(self, result: ResultRecord) -> None:
        await self._results.replace_one({"_id": result.id}, document(result), upsert=True)
