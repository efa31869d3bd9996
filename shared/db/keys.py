"""API keys (stored by hash only) and uploads' idempotency keys."""

import re

from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from shared.db.codec import Document, document, now, record
from shared.records import ApiKeyRecord, IdempotencyClaim


class ApiKeys:
    def __init__(
        self, keys: AsyncCollection[Document], idempotency: AsyncCollection[Document]
    ) -> None:
        self._keys = keys
        self._idempotency = idempotency

    async def add(self, key_hash: str, name: str, tenant: str) -> None:
        key = ApiKeyRecord(id=key_hash, name=name, tenant=tenant, created_at=now())
        await self._keys.insert_one(document(key))

    async def tenant_of(self, key_hash: str) -> str | None:
        """The tenant of a valid (not revoked) key."""
        doc = await self._keys.find_one({"_id": key_hash, "revoked_at": None})
        return None if doc is None else record(doc, ApiKeyRecord).tenant

    async def tenant_exists(self, tenant: str) -> bool:
        return await self._keys.find_one({"tenant": tenant, "revoked_at": None}) is not None

    async def revoke(self, key_id: str) -> int:
        """Revoke the keys whose hash starts with `key_id`; returns how many."""
        result = await self._keys.update_many(
            {"_id": {"$regex": f"^{re.escape(key_id)}"}, "revoked_at": None},
            {"$set": {"revoked_at": now()}},
        )
        return result.modified_count

    async def all(self) -> list[ApiKeyRecord]:
        cursor = self._keys.find().sort("created_at", ASCENDING)
        return [record(doc, ApiKeyRecord) async for doc in cursor]

    async def release_claims_of(self, request_id: str) -> None:
        """Forget the Idempotency-Keys bound to a deleted request (a retry then makes anew)."""
        await self._idempotency.delete_many({"request_id": request_id})

    async def claim_idempotency_key(
        self, key: str, request_id: str, fingerprint: str
    ) -> IdempotencyClaim:
        """Bind an upload's Idempotency-Key to `request_id` unless it is bound already.

        Returns the binding that holds: ours, or the one an earlier upload made.
        """
        claim = IdempotencyClaim(
            id=key, request_id=request_id, fingerprint=fingerprint, created_at=now()
        )
        fields = {k: v for k, v in document(claim).items() if k != "_id"}
        for _ in range(2):  # two concurrent first claims: one upsert loses, then reads
            try:
                doc = await self._idempotency.find_one_and_update(
                    {"_id": key},
                    {"$setOnInsert": fields},
                    upsert=True,
                    return_document=ReturnDocument.AFTER,
                )
            except DuplicateKeyError:
                continue
            assert doc is not None
            return record(doc, IdempotencyClaim)
        raise RuntimeError(f"could not claim idempotency key {key!r}")
