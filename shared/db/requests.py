"""A request's life: opened pending, processing once its images are listed, then final."""

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import msgspec
from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection

from shared.db.codec import Document, document, maybe, now, record
from shared.quotas import stored_bytes
from shared.records import Options, Output, RequestRecord, Source, WebhookAttempt, WebhookState
from shared.status import (
    FINAL_STATUSES,
    FINISHED_STATUSES,
    ImageStatus,
    RequestStatus,
    final_status,
)

_OPEN = [RequestStatus.PENDING.value, RequestStatus.PROCESSING.value]
_FINAL = [s.value for s in FINAL_STATUSES]
_FINISHED = [s.value for s in FINISHED_STATUSES]


@dataclass
class Tally:
    """Images newly finished in one burst of a request's outcomes: what its counts go up by."""

    done: int = 0
    failed: int = 0
    revalidated: int = 0
    reused: int = 0
    bytes_stored: int = 0

    def add(self, output: Output | None) -> None:
        """One more image: done with `output`, or failed (None)."""
        if output is None:
            self.failed += 1
            return
        self.done += 1
        self.revalidated += output.revalidated
        self.reused += output.reused
        self.bytes_stored += stored_bytes(output)

    def increments(self) -> dict[str, int]:
        return {name: n for name, n in dataclasses.asdict(self).items() if n}


class Requests:
    def __init__(self, requests: AsyncCollection[Document]) -> None:
        self._requests = requests

    async def open(
        self, request_id: str, tenant: str, filename: str, options: Options, source: Source
    ) -> RequestRecord:
        """Create the request as pending unless it exists; return it either way."""
        moment = now()
        fresh = RequestRecord(
            id=request_id,
            tenant=tenant,
            filename=filename,
            quality=options.quality,
            format=options.format,
            webhook_url=options.webhook_url,
            effort=options.effort,
            max_bytes=options.max_bytes,
            sizes=options.sizes,
            metadata=options.metadata,
            animation=options.animation,
            source=source,
            status=RequestStatus.PENDING,
            created_at=moment,
            updated_at=moment,
        )
        doc = await self._requests.find_one_and_update(
            {"_id": request_id},
            {"$setOnInsert": document(fresh)},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        assert doc is not None  # upsert always returns a document
        return record(doc, RequestRecord)

    async def delete(self, request_id: str) -> None:
        await self._requests.delete_one({"_id": request_id})

    async def others_from_source(self, request: RequestRecord) -> bool:
        """Whether another of the tenant's requests was made from the same stored CSV (a CSV
        dropped again at the same key makes a new request from the new version)."""
        if request.source is None:
            return False
        query = {
            "tenant": request.tenant,
            "source.key": request.source.key,
            "_id": {"$ne": request.id},
        }
        return await self._requests.find_one(query, {"_id": 1}) is not None

    async def get(self, request_id: str) -> RequestRecord | None:
        return maybe(await self._requests.find_one({"_id": request_id}), RequestRecord)

    async def of_tenant(
        self, tenant: str, limit: int, before: datetime | None = None, inbox_key: str = ""
    ) -> list[RequestRecord]:
        """The tenant's requests, newest first; `before` pages on (created_at of the last)."""
        query: Document = {"tenant": tenant}
        if before is not None:
            query["created_at"] = {"$lt": before}
        if inbox_key:
            query["source.key"] = inbox_key
        cursor = self._requests.find(query).sort("created_at", -1).limit(limit)
        return [record(doc, RequestRecord) async for doc in cursor]

    async def in_progress(self, tenant: str) -> int:
        """How many of the tenant's requests are pending or processing."""
        return await self._requests.count_documents({"tenant": tenant, "status": {"$in": _OPEN}})

    async def processing_besides(self, tenant: str, request_id: str) -> int:
        """How many of the tenant's other requests ingest has accepted and not finished."""
        query = {
            "tenant": tenant,
            "status": RequestStatus.PROCESSING.value,
            "_id": {"$ne": request_id},
        }
        return await self._requests.count_documents(query)

    async def bytes_stored(self, tenant: str) -> int:
        """What the tenant's requests stored and still keep (a deleted one is gone with its
        document)."""
        pipeline: list[Document] = [
            {"$match": {"tenant": tenant}},
            {"$group": {"_id": None, "bytes": {"$sum": "$bytes_stored"}}},
        ]
        cursor = await self._requests.aggregate(pipeline)
        totals = [int(doc["bytes"]) async for doc in cursor]
        return totals[0] if totals else 0

    async def mark_images_counted(self, request_id: str) -> None:
        """Its images are in its tenant's day (shared/db/tenants.py): never count them again."""
        await self._requests.update_one({"_id": request_id}, {"$set": {"images_counted": True}})

    async def set_header(self, request_id: str, header: Sequence[str]) -> None:
        await self._requests.update_one({"_id": request_id}, {"$set": {"header": list(header)}})

    async def start_processing(self, request_id: str, total: int, rows: int) -> bool:
        """Record how many images the request has, before any of them is sent to be fetched.

        True only for the one caller that moved it from pending: that caller fans out.
        """
        moment = now()
        result = await self._requests.update_one(
            {"_id": request_id, "status": RequestStatus.PENDING.value},
            {
                "$set": {
                    "status": RequestStatus.PROCESSING.value,
                    "total": total,
                    "rows": rows,
                    "updated_at": moment,
                    "progress_at": moment,
                    "fanout_claimed_at": moment,
                }
            },
        )
        return result.modified_count == 1

    async def count(self, request_id: str, tally: Tally) -> RequestRecord | None:
        """Add a burst of finished images to the counts while the request is processing;
        returns the request as counted (None if it is not processing).

        A crash between recording images and this increment loses them: the counts may lag,
        until the reconciler re-derives them from the images; closing sets them exactly
        (close_finished).
        """
        doc = await self._requests.find_one_and_update(
            {"_id": request_id, "status": RequestStatus.PROCESSING.value},
            {"$inc": tally.increments(), "$set": {"updated_at": now(), "progress_at": now()}},
            return_document=ReturnDocument.AFTER,
        )
        return maybe(doc, RequestRecord)

    async def close_finished(
        self, request_id: str, counts: dict[ImageStatus, int], revalidated: int, reused: int
    ) -> RequestRecord | None:
        """Close a processing request whose images all finished, with their exact `counts`.

        Returns the request only to the caller that closed it (at most one, ever).
        """
        done, failed = counts.get(ImageStatus.DONE, 0), counts.get(ImageStatus.FAILED, 0)
        final = final_status(done + failed, done, failed)
        assert final is not None
        doc = await self._requests.find_one_and_update(
            {"_id": request_id, "status": RequestStatus.PROCESSING.value},
            {
                "$set": {
                    "status": final.value,
                    "done": done,
                    "failed": failed,
                    "revalidated": revalidated,
                    "reused": reused,
                    "completed_at": now(),
                    "updated_at": now(),
                }
            },
            return_document=ReturnDocument.AFTER,
        )
        return maybe(doc, RequestRecord)

    async def close(
        self, request_id: str, status: RequestStatus, error: str | None = None
    ) -> RequestRecord | None:
        """Move the request to a final status once; returns it only to the caller that did."""
        assert status in FINAL_STATUSES
        doc = await self._requests.find_one_and_update(
            {"_id": request_id, "status": {"$nin": _FINAL}},
            {"$set": {"status": status.value, "error": error, "completed_at": now()}},
            return_document=ReturnDocument.AFTER,
        )
        return maybe(doc, RequestRecord)

    async def record_webhook(
        self,
        request_id: str,
        ok: bool,
        status_code: int | None,
        error: str | None,
        state: WebhookState | None = None,
    ) -> None:
        """Append one delivery attempt; a `state` ends the deliveries."""
        attempt = WebhookAttempt(ok=ok, status_code=status_code, error=error, at=now())
        update: Document = {"$push": {"webhook_attempts": document(attempt)}}
        if state is not None:
            update["$set"] = {"webhook_state": state.value}
        await self._requests.update_one({"_id": request_id}, update)

    # --- the reconciler's view --------------------------------------------------------

    async def stuck(self, idle_since: datetime, limit: int = 100) -> list[RequestRecord]:
        """Unfinished requests without progress since `idle_since`, oldest first."""
        cursor = self._requests.find({"status": {"$in": _OPEN}, "updated_at": {"$lt": idle_since}})
        cursor = cursor.sort("updated_at", ASCENDING).limit(limit)
        return [record(doc, RequestRecord) async for doc in cursor]

    async def undelivered_webhooks(
        self, closed_before: datetime, limit: int = 100
    ) -> list[RequestRecord]:
        """Finished requests whose webhook has neither been delivered nor given up."""
        cursor = self._requests.find(
            {
                "status": {"$in": _FINAL},
                "webhook_url": {"$ne": None},
                "webhook_state": None,
                "completed_at": {"$lt": closed_before},
            }
        )
        return [record(doc, RequestRecord) async for doc in cursor.limit(limit)]

    # --- the retention sweep (notifier/sweep.py) -----------------------------------------

    async def finished_before(self, moment: datetime, limit: int) -> list[RequestRecord]:
        """Requests that finished before `moment`, oldest first, but not those whose webhook
        is still being delivered (the DELETE handler's rule: they wait for it too)."""
        cursor = self._requests.find(
            {
                "status": {"$in": _FINISHED},
                "completed_at": {"$lt": moment},
                "$or": [{"webhook_url": None}, {"webhook_state": {"$ne": None}}],
            }
        )
        cursor = cursor.sort("completed_at", ASCENDING).limit(limit)
        return [record(doc, RequestRecord) async for doc in cursor]

    async def tombstone(self, request: RequestRecord, at: datetime, kept_days: int) -> None:
        """Replace a finished request's document by its tombstone: status expired, when, and
        the days it was kept; its summary stays, not what it was made from (header, source,
        timeline, webhook attempts), so no other request is taken for a user of its CSV."""
        stone = msgspec.structs.replace(
            request,
            status=RequestStatus.EXPIRED,
            expired_at=at,
            kept_days=kept_days,
            source=None,
            header=(),
            moments={},
            webhook_attempts=(),
            updated_at=at,
        )
        await self._requests.replace_one(
            {"_id": request.id, "status": {"$in": _FINISHED}}, document(stone)
        )

    async def raise_counts(self, request_id: str, done: int, failed: int) -> None:
        """Bring lagging progress counts up to what the images show (never down: concurrent
        increments may already have counted more)."""
        await self._requests.update_one(
            {"_id": request_id, "status": RequestStatus.PROCESSING.value},
            {"$max": {"done": done, "failed": failed}},
        )

    async def touch(self, request_id: str) -> None:
        await self._requests.update_one({"_id": request_id}, {"$set": {"updated_at": now()}})
