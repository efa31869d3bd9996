"""MongoDB: requests, their CSV rows and their images, through pymongo's async API.

Three collections, so a 100,000-image request never has to fit in one document:
- `requests`: one document per request (settings, status, counts);
- `rows`: one per CSV data row (original cells, for the output CSV), `_id` = "<request>:<row>";
- `images`: one per URL slot, `_id` = image id "<request>.<row>.<slot>".
Every write is keyed by a deterministic id, so redelivered messages rewrite, never duplicate.
"""

import re
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ASCENDING, AsyncMongoClient, ReturnDocument, UpdateOne
from pymongo.errors import DuplicateKeyError

from shared.names import least_busy_lane
from shared.status import FINAL_STATUSES, ImageStatus, RequestStatus, final_status

Doc = dict[str, Any]


def now() -> datetime:
    return datetime.now(UTC)


def image_id(request_id: str, row: int, slot: int) -> str:
    return f"{request_id}.{row}.{slot}"


class Database:
    def __init__(self, mongo_url: str, db_name: str) -> None:
        self._client: AsyncMongoClient[Doc] = AsyncMongoClient(mongo_url, tz_aware=True)
        db = self._client[db_name]
        self.requests = db["requests"]
        self.rows = db["rows"]
        self.images = db["images"]
        self.idempotency = db["idempotency_keys"]
        self.leases = db["leases"]
        self.api_keys = db["api_keys"]

    async def ensure_indexes(self) -> None:
        await self.rows.create_index([("request_id", ASCENDING), ("index", ASCENDING)])
        await self.images.create_index(
            [("request_id", ASCENDING), ("row", ASCENDING), ("slot", ASCENDING)]
        )
        await self.images.create_index([("request_id", ASCENDING), ("status", ASCENDING)])
        await self.requests.create_index([("tenant", ASCENDING), ("source.key", ASCENDING)])
        await self.requests.create_index([("tenant", ASCENDING), ("created_at", ASCENDING)])
        await self.api_keys.create_index([("tenant", ASCENDING)])
        await self.requests.create_index([("status", ASCENDING), ("updated_at", ASCENDING)])

    async def ping(self) -> None:
        await self._client.admin.command("ping")

    async def close(self) -> None:
        await self._client.close()

    # --- requests -------------------------------------------------------------------------

    async def open_request(self, request_id: str, fields: Mapping[str, Any]) -> Doc:
        """Create the request as pending unless it exists; return it either way."""
        doc = await self.requests.find_one_and_update(
            {"_id": request_id},
            {
                "$setOnInsert": {
                    **fields,
                    "status": RequestStatus.PENDING.value,
                    "total": 0,
                    "done": 0,
                    "failed": 0,
                    "created_at": now(),
                    "updated_at": now(),
                }
            },
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        assert doc is not None  # upsert always returns a document
        return doc

    async def get_request(self, request_id: str) -> Doc | None:
        return await self.requests.find_one({"_id": request_id})

    async def list_requests(
        self, tenant: str, limit: int, before: datetime | None = None, inbox_key: str = ""
    ) -> list[Doc]:
        """The tenant's requests, newest first; `before` pages on (created_at of the last)."""
        query: Doc = {"tenant": tenant}
        if before is not None:
            query["created_at"] = {"$lt": before}
        if inbox_key:
            query["source.key"] = inbox_key
        cursor = self.requests.find(query).sort("created_at", -1).limit(limit)
        return [doc async for doc in cursor]

    async def set_header(self, request_id: str, header: Sequence[str]) -> None:
        await self.requests.update_one({"_id": request_id}, {"$set": {"header": list(header)}})

    async def start_processing(self, request_id: str, total: int, quality: int) -> bool:
        """Record how many images the request has, before any of them is sent to be fetched.

        True only for the one caller that moved it from pending: that caller fans out.
        """
        result = await self.requests.update_one(
            {"_id": request_id, "status": RequestStatus.PENDING.value},
            {
                "$set": {
                    "status": RequestStatus.PROCESSING.value,
                    "total": total,
                    "quality": quality,
                    "updated_at": now(),
                    "progress_at": now(),
                    "fanout_claimed_at": now(),
                }
            },
        )
        return result.modified_count == 1

    async def claim_fanout(self, request_id: str, stale_after_s: float) -> bool:
        """Take over an unfinished fan-out whose owner went quiet (crashed) `stale_after_s` ago."""
        result = await self.requests.update_one(
            {
                "_id": request_id,
                "fanned_out": {"$ne": True},
                "fanout_claimed_at": {"$lt": now() - timedelta(seconds=stale_after_s)},
            },
            {"$set": {"fanout_claimed_at": now()}},
        )
        return result.modified_count == 1

    async def renew_fanout(self, request_id: str) -> None:
        await self.requests.update_one({"_id": request_id}, {"$set": {"fanout_claimed_at": now()}})

    async def image_pending(self, image_id: str) -> bool:
        return (
            await self.images.find_one(
                {"_id": image_id, "status": ImageStatus.PENDING.value}, {"_id": 1}
            )
            is not None
        )

    async def mark_fanned_out(self, request_id: str, moments: Mapping[str, int]) -> None:
        """Remember the fan-out finished, with when ingest got the CSV (shared/timeline.py)."""
        await self.requests.update_one(
            {"_id": request_id}, {"$set": {"fanned_out": True, "moments": dict(moments)}}
        )

    async def count_finished(self, request_id: str, status: ImageStatus) -> None:
        """Count one more finished image, for progress while the request is processing.

        A crash between recording an image and this increment loses it: the counts shown
        during processing may lag; closing sets them exactly (close_finished_request).
        """
        field = "done" if status is ImageStatus.DONE else "failed"
        await self.requests.update_one(
            {"_id": request_id, "status": RequestStatus.PROCESSING.value},
            {"$inc": {field: 1}, "$set": {"updated_at": now(), "progress_at": now()}},
        )

    async def has_pending_images(self, request_id: str) -> bool:
        query = {"request_id": request_id, "status": ImageStatus.PENDING.value}
        return await self.images.find_one(query, {"_id": 1}) is not None

    async def close_finished_request(self, request_id: str) -> Doc | None:
        """Close a processing request whose images all finished, with counts taken from them.

        Returns the request only to the caller that closed it (at most one, ever).
        """
        counts = await self.count_images(request_id)
        done = counts.get(ImageStatus.DONE.value, 0)
        failed = counts.get(ImageStatus.FAILED.value, 0)
        final = final_status(done + failed, done, failed)
        assert final is not None
        return await self.requests.find_one_and_update(
            {"_id": request_id, "status": RequestStatus.PROCESSING.value},
            {
                "$set": {
                    "status": final.value,
                    "done": done,
                    "failed": failed,
                    "completed_at": now(),
                    "updated_at": now(),
                }
            },
            return_document=ReturnDocument.AFTER,
        )

    async def close_request(
        self, request_id: str, status: RequestStatus, error: str | None = None
    ) -> Doc | None:
        """Move the request to a final status once; returns it only to the caller that did."""
        assert status in FINAL_STATUSES
        return await self.requests.find_one_and_update(
            {"_id": request_id, "status": {"$nin": [s.value for s in FINAL_STATUSES]}},
            {"$set": {"status": status.value, "error": error, "completed_at": now()}},
            return_document=ReturnDocument.AFTER,
        )

    async def record_webhook(
        self, request_id: str, attempt: Mapping[str, Any], state: str | None = None
    ) -> None:
        """Append one delivery attempt; `state` ("delivered", "failed") ends the deliveries."""
        update: Doc = {"$push": {"webhook_attempts": {**attempt, "at": now()}}}
        if state is not None:
            update["$set"] = {"webhook_state": state}
        await self.requests.update_one({"_id": request_id}, update)

    # --- API keys (stored by hash only) ----------------------------------------------------

    async def add_api_key(self, key_hash: str, name: str, tenant: str) -> None:
        await self.api_keys.insert_one(
            {"_id": key_hash, "name": name, "tenant": tenant, "created_at": now()}
        )

    async def tenant_for_key(self, key_hash: str) -> str | None:
        """The tenant of a valid (not revoked) key."""
        doc = await self.api_keys.find_one({"_id": key_hash, "revoked_at": None})
        return None if doc is None else str(doc["tenant"])

    async def tenant_exists(self, tenant: str) -> bool:
        return await self.api_keys.find_one({"tenant": tenant, "revoked_at": None}) is not None

    async def revoke_api_key(self, key_id: str) -> int:
        """Revoke the keys whose hash starts with `key_id`; returns how many."""
        result = await self.api_keys.update_many(
            {"_id": {"$regex": f"^{re.escape(key_id)}"}, "revoked_at": None},
            {"$set": {"revoked_at": now()}},
        )
        return result.modified_count

    async def list_api_keys(self) -> list[Doc]:
        return [doc async for doc in self.api_keys.find().sort("created_at", ASCENDING)]

    # --- reconciliation -------------------------------------------------------------------

    async def acquire_lease(self, name: str, holder: str, seconds: float) -> bool:
        """Hold the named lease for `seconds` unless another holder has it (one reconciler)."""
        moment = now()
        try:
            await self.leases.find_one_and_update(
                {"_id": name, "$or": [{"until": {"$lt": moment}}, {"holder": holder}]},
                {"$set": {"holder": holder, "until": moment + timedelta(seconds=seconds)}},
                upsert=True,
            )
        except DuplicateKeyError:  # held by someone else: the upsert collided with it
            return False
        return True

    async def stuck_requests(self, idle_since: datetime, limit: int = 100) -> list[Doc]:
        """Unfinished requests without progress since `idle_since`, oldest first."""
        cursor = self.requests.find(
            {
                "status": {"$in": [RequestStatus.PENDING.value, RequestStatus.PROCESSING.value]},
                "updated_at": {"$lt": idle_since},
            }
        ).sort("updated_at", ASCENDING)
        return [doc async for doc in cursor.limit(limit)]

    async def undelivered_webhooks(self, closed_before: datetime, limit: int = 100) -> list[Doc]:
        """Finished requests whose webhook has neither been delivered nor given up."""
        cursor = self.requests.find(
            {
                "status": {"$in": [s.value for s in FINAL_STATUSES]},
                "webhook_url": {"$ne": None},
                "webhook_state": None,
                "completed_at": {"$lt": closed_before},
            }
        )
        return [doc async for doc in cursor.limit(limit)]

    async def count_images(self, request_id: str) -> dict[str, int]:
        """How many of the request's images are in each status."""
        pipeline: list[Doc] = [
            {"$match": {"request_id": request_id}},
            {"$group": {"_id": "$status", "n": {"$sum": 1}}},
        ]
        return {doc["_id"]: doc["n"] async for doc in await self.images.aggregate(pipeline)}

    async def raise_counts(self, request_id: str, done: int, failed: int) -> None:
        """Bring lagging progress counts up to what the images show (never down: concurrent
        increments may already have counted more)."""
        await self.requests.update_one(
            {"_id": request_id, "status": RequestStatus.PROCESSING.value},
            {"$max": {"done": done, "failed": failed}},
        )

    async def touch(self, request_id: str) -> None:
        await self.requests.update_one({"_id": request_id}, {"$set": {"updated_at": now()}})

    async def claim_idempotency_key(self, key: str, request_id: str, fingerprint: str) -> Doc:
        """Bind an upload's Idempotency-Key to `request_id` unless it is bound already.

        Returns the binding that holds: ours, or the one an earlier upload made.
        """
        for _ in range(2):  # two concurrent first claims: one upsert loses, then reads
            try:
                doc = await self.idempotency.find_one_and_update(
                    {"_id": key},
                    {
                        "$setOnInsert": {
                            "request_id": request_id,
                            "fingerprint": fingerprint,
                            "created_at": now(),
                        }
                    },
                    upsert=True,
                    return_document=ReturnDocument.AFTER,
                )
            except DuplicateKeyError:
                continue
            assert doc is not None
            return doc
        raise RuntimeError(f"could not claim idempotency key {key!r}")

    # --- rows and images ------------------------------------------------------------------

    async def save_rows(self, rows: Sequence[Doc], images: Sequence[Doc]) -> None:
        """Insert a batch of rows and images; re-running a batch changes nothing."""
        if rows:
            await self.rows.bulk_write(
                [UpdateOne({"_id": r["_id"]}, {"$setOnInsert": r}, upsert=True) for r in rows],
                ordered=False,
            )
        if images:
            await self.images.bulk_write(
                [UpdateOne({"_id": i["_id"]}, {"$setOnInsert": i}, upsert=True) for i in images],
                ordered=False,
            )

    def iter_rows(self, request_id: str, first: int = 0, count: int = 0) -> AsyncIterator[Doc]:
        """The request's rows in order; `first`/`count` page through them (0: all)."""
        query: Doc = {"request_id": request_id}
        if first or count:
            query["index"] = {"$gte": first, **({"$lt": first + count} if count else {})}
        return self.rows.find(query).sort("index", ASCENDING)

    async def has_row(self, request_id: str, index: int) -> bool:
        return await self.rows.find_one({"_id": f"{request_id}:{index}"}) is not None

    def iter_images(
        self,
        request_id: str,
        status: ImageStatus | None = None,
        first_row: int = 0,
        row_count: int = 0,
    ) -> AsyncIterator[Doc]:
        """The request's images by row and slot (optionally of a status, or a page of rows)."""
        query: Doc = {"request_id": request_id}
        if status is not None:
            query["status"] = status.value
        if first_row or row_count:
            rows = {"$gte": first_row, **({"$lt": first_row + row_count} if row_count else {})}
            query["row"] = rows
        return self.images.find(query).sort([("row", ASCENDING), ("slot", ASCENDING)])

    async def finish_image(
        self, image_id: str, status: ImageStatus, fields: Mapping[str, Any]
    ) -> bool:
        """Record an image's outcome once; True only for the call that finished it."""
        result = await self.images.update_one(
            {"_id": image_id, "status": ImageStatus.PENDING.value},
            {"$set": {**fields, "status": status.value, "finished_at": now()}},
        )
        return result.modified_count == 1

    # --- fetch lanes (shared/names.py) ----------------------------------------------------

    async def open_requests_per_lane(self) -> dict[int, int]:
        """How many processing requests hold each bulk lane (lanes nobody holds are missing)."""
        pipeline: list[Doc] = [
            {"$match": {"status": RequestStatus.PROCESSING.value, "fetch_lane": {"$ne": None}}},
            {"$group": {"_id": "$fetch_lane", "n": {"$sum": 1}}},
        ]
        return {int(doc["_id"]): doc["n"] async for doc in await self.requests.aggregate(pipeline)}

    async def assign_fetch_lane(self, request_id: str) -> int:
        """The big request's bulk lane: the one it holds, else the least busy one, kept for good.

        Kept on the request, so a fan-out taken over and the reconciler's re-issued fetches use
        the same lane. Two requests assigned at the same moment may both pick the lane that was
        least busy (each counts before the other's choice is stored): they then share it, first
        come first served, which costs fairness, never correctness.
        """
        query: Doc = {"_id": request_id}
        doc = await self.requests.find_one(query, {"fetch_lane": 1})
        if doc is None or doc.get("fetch_lane") is None:
            lane = least_busy_lane(await self.open_requests_per_lane())
            # Only if still unset: two deliveries of one CSV must agree on its lane.
            await self.requests.update_one(
                {**query, "fetch_lane": None}, {"$set": {"fetch_lane": lane}}
            )
            doc = await self.requests.find_one(query, {"fetch_lane": 1})
        assert doc is not None  # ingest opened the request before fanning it out
        return int(doc["fetch_lane"])
