"""Ingest's fan-out of a request: who sends its fetches, whether it finished, and its lane.

Kept on the request's document, apart from its life (requests.py): only ingest uses it.
"""

from collections.abc import Mapping
from datetime import timedelta

from pymongo.asynchronous.collection import AsyncCollection

from shared.db.codec import Document, now
from shared.names import least_busy_lane
from shared.status import RequestStatus


class FanOut:
    def __init__(self, requests: AsyncCollection[Document]) -> None:
        self._requests = requests

    async def claim(self, request_id: str, stale_after_s: float) -> bool:
        """Take over an unfinished fan-out whose owner went quiet (crashed) `stale_after_s` ago."""
        result = await self._requests.update_one(
            {
                "_id": request_id,
                "fanned_out": {"$ne": True},
                "fanout_claimed_at": {"$lt": now() - timedelta(seconds=stale_after_s)},
            },
            {"$set": {"fanout_claimed_at": now()}},
        )
        return result.modified_count == 1

    async def renew(self, request_id: str) -> None:
        await self._requests.update_one({"_id": request_id}, {"$set": {"fanout_claimed_at": now()}})

    async def finish(self, request_id: str, moments: Mapping[str, int]) -> None:
        """Remember the fan-out finished, with when ingest got the CSV (shared/timeline.py)."""
        await self._requests.update_one(
            {"_id": request_id}, {"$set": {"fanned_out": True, "moments": dict(moments)}}
        )

    async def open_requests_per_lane(self) -> dict[int, int]:
        """How many processing requests hold each bulk lane (lanes nobody holds are missing)."""
        pipeline: list[Document] = [
            {"$match": {"status": RequestStatus.PROCESSING.value, "fetch_lane": {"$ne": None}}},
            {"$group": {"_id": "$fetch_lane", "n": {"$sum": 1}}},
        ]
        cursor = await self._requests.aggregate(pipeline)
        return {int(doc["_id"]): int(doc["n"]) async for doc in cursor}

    async def assign_lane(self, request_id: str) -> int:
        """The big request's bulk lane: the one it holds, else the least busy one, kept for good.

        Kept on the request, so a fan-out taken over and the reconciler's re-issued fetches use
        the same lane. Two requests assigned at the same moment may both pick the lane that was
        least busy (each counts before the other's choice is stored): they then share it, first
        come first served, which costs fairness, never correctness.
        """
        query: Document = {"_id": request_id}
        doc = await self._requests.find_one(query, {"fetch_lane": 1})
        if doc is None or doc.get("fetch_lane") is None:
            lane = least_busy_lane(await self.open_requests_per_lane())
            # Only if still unset: two deliveries of one CSV must agree on its lane.
            await self._requests.update_one(
                {**query, "fetch_lane": None}, {"$set": {"fetch_lane": lane}}
            )
            doc = await self._requests.find_one(query, {"fetch_lane": 1})
        assert doc is not None  # ingest opened the request before fanning it out
        return int(doc["fetch_lane"])
