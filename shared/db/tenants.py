"""Each tenant's limits and its images per day (issue 14; the rules are shared/quotas.py).

Collections: `tenants` (one document per tenant with a limit, TenantRecord) and `tenant_days`
(`_id` "<tenant>:<YYYY-MM-DD>": the images of its requests counted that UTC day).
"""

from collections.abc import Mapping

from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection

from shared.db.codec import Document, maybe, record
from shared.records import TenantRecord


class Tenants:
    def __init__(self, tenants: AsyncCollection[Document], days: AsyncCollection[Document]) -> None:
        self._tenants = tenants
        self._days = days

    async def get(self, tenant: str) -> TenantRecord:
        found = maybe(await self._tenants.find_one({"_id": tenant}), TenantRecord)
        return found or TenantRecord(id=tenant)

    async def set_limits(self, tenant: str, limits: Mapping[str, int]) -> TenantRecord:
        """Set the limits named (TenantRecord fields; 0 removes one), leave the others as they
        are; returns the tenant's limits after."""
        update: Document = {}
        if kept := {name: value for name, value in limits.items() if value}:
            update["$set"] = kept
        if removed := {name: "" for name, value in limits.items() if not value}:
            update["$unset"] = removed
        if not update:
            return await self.get(tenant)
        doc = await self._tenants.find_one_and_update(
            {"_id": tenant}, update, upsert=True, return_document=ReturnDocument.AFTER
        )
        assert doc is not None  # upsert always returns a document
        return record(doc, TenantRecord)

    async def images_on(self, tenant: str, day: str) -> int:
        """The images of the tenant's requests counted on `day` (shared/quotas.py day_of)."""
        doc = await self._days.find_one({"_id": f"{tenant}:{day}"})
        return 0 if doc is None else int(doc["images"])

    async def count_images(self, tenant: str, day: str, images: int, limit: int | None) -> bool:
        """Add a request's `images` to the tenant's count of `day`, unless that takes it over
        `limit`: one conditional increment, so two CSVs counted at once cannot both slip under
        it. False: not counted (over the limit by now)."""
        key = {"_id": f"{tenant}:{day}"}
        if limit is None:
            await self._days.update_one(key, {"$inc": {"images": images}}, upsert=True)
            return True
        # Exists first: an upsert whose condition fails would insert a second document.
        await self._days.update_one(key, {"$setOnInsert": {"images": 0}}, upsert=True)
        counted = await self._days.update_one(
            {**key, "images": {"$lte": limit - images}}, {"$inc": {"images": images}}
        )
        return counted.modified_count == 1
