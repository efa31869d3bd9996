"""What a tenant's images were made from, per URL: the `source` each done image recorded
with its outcome (shared/db/images.py). The latest one of a URL stands for it, so a source
costs no write of its own: the image's outcome is written anyway."""

from pymongo import DESCENDING
from pymongo.asynchronous.collection import AsyncCollection

from shared.db.codec import Document, in_batches, record
from shared.records import SourceRecord, source_id
from shared.status import ImageStatus

_LATEST = [("finished_at", DESCENDING)]


def _made_from(ids: object) -> Document:
    return {"source._id": ids, "status": ImageStatus.DONE.value}


class Sources:
    def __init__(self, images: AsyncCollection[Document]) -> None:
        self._images = images

    async def get(self, tenant: str, url: str) -> SourceRecord | None:
        wanted = _made_from(source_id(tenant, url))
        doc = await self._images.find_one(wanted, {"source": 1}, sort=_LATEST)
        return None if doc is None else record(doc["source"], SourceRecord)

    async def of_urls(self, tenant: str, urls: list[str]) -> dict[str, SourceRecord]:
        """The tenant's sources among these URLs, by URL (a query per IN_QUERY_VALUES)."""
        url_of = {source_id(tenant, url): url for url in urls}
        found: dict[str, SourceRecord] = {}
        for ids in in_batches(sorted(url_of)):
            # Latest first: the first seen of a URL is the one that stands for it.
            cursor = self._images.find(_made_from({"$in": ids}), {"source": 1}, sort=_LATEST)
            async for doc in cursor:
                source = record(doc["source"], SourceRecord)
                if source.tenant == tenant:
                    found.setdefault(url_of[source.id], source)
        return found
