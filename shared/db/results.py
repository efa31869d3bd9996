"""Compressed outputs by source and settings, per tenant, for reuse (compressor/reuse.py)."""

from pymongo.asynchronous.collection import AsyncCollection

from shared.db.codec import Document, document, maybe
from shared.records import ResultRecord


class Results:
    def __init__(self, results: AsyncCollection[Document]) -> None:
        self._results = results

    async def get(self, result_id: str) -> ResultRecord | None:
        return maybe(await self._results.find_one({"_id": result_id}), ResultRecord)

    async def remember(self, result: ResultRecord) -> None:
        await self._results.replace_one({"_id": result.id}, document(result), upsert=True)
