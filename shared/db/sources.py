"""What the fetcher last stored per URL and tenant, to ask the origin whether it changed."""

from pymongo.asynchronous.collection import AsyncCollection

from shared.db.codec import Document, document, in_batches, maybe, record
from shared.records import SourceRecord, source_id


class Sources:
    def __init__(self, sources: AsyncCollection[Document]) -> None:
        self._sources = sources

    async def get(self, tenant: str, url: str) -> SourceRecord | None:
        return maybe(await self._sources.find_one({"_id": source_id(tenant, url)}), SourceRecord)

    async def of_urls(self, tenant: str, urls: list[str]) -> dict[str, SourceRecord]:
        """The tenant's sources among these URLs, by URL (a query per IN_QUERY_VALUES)."""
        found: dict[str, SourceRecord] = {}
        for ids in in_batches(sorted({source_id(tenant, url) for url in urls})):
            async for doc in self._sources.find({"_id": {"$in": ids}}):
                source = record(doc, SourceRecord)
                if source.tenant == tenant:
                    found[source.url] = source
        return found

    async def remember(self, source: SourceRecord) -> None:
        await self._sources.replace_one({"_id": source.id}, document(source), upsert=True)

    async def forget(self, tenant: str, url: str) -> None:
        await self._sources.delete_one({"_id": source_id(tenant, url)})
