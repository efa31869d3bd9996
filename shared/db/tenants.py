"""Each tenant's limits (issue 14): what the gateway checks before accepting an upload."""

from pymongo.asynchronous.collection import AsyncCollection

from shared.db.codec import Document, maybe
from shared.records import TenantRecord


class Tenants:
    def __init__(self, tenants: AsyncCollection[Document]) -> None:
        self._tenants = tenants

    async def get(self, tenant: str) -> TenantRecord:
        found = maybe(await self._tenants.find_one({"_id": tenant}), TenantRecord)
        return found or TenantRecord(id=tenant)

    async def set_max_concurrent(self, tenant: str, limit: int | None) -> None:
        """At most `limit` requests pending or processing at once (None: no limit)."""
        change = (
            {"$set": {"max_concurrent": limit}} if limit else {"$unset": {"max_concurrent": ""}}
        )
        await self._tenants.update_one({"_id": tenant}, change, upsert=True)
