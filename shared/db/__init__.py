"""MongoDB, through pymongo's async API: the only place documents become records and back.

One repository per concern, each a short module:
- `requests` (requests.py): a request's life, from pending to its webhook;
- `fanout` (fanout.py): ingest's claim on a request's fan-out, and its bulk fetch lane;
- `images` (images.py): the rows of a request's CSV and its images (one per URL slot);
- `sources`, `results` (sources.py, results.py): what a tenant's done images were made from
  and the outputs they point at, read from those images for reuse (issue 14);
- `keys` (keys.py): API keys and uploads' idempotency keys;
- `leases` (leases.py): named leases (one reconciler at a time);
- `tenants` (tenants.py): each tenant's limits and its images per day.

Collections: `requests` (one document per request), `rows` (`_id` "<request>:rows-<first
row>", ROWS_PER_DOC rows each),
`images` (`_id` "<request>.<row>.<slot>"), `api_keys`, `idempotency_keys`, `leases`,
`tenants`, `tenant_days` (`_id` "<tenant>:<YYYY-MM-DD>"). A
100,000-image request never has to fit in one document, and every write is keyed by a
deterministic id, so redelivered messages rewrite, never duplicate.
"""

from datetime import datetime

from pymongo import ASCENDING, DESCENDING, AsyncMongoClient

from shared.db.codec import Document
from shared.db.fanout import FanOut
from shared.db.images import Images
from shared.db.keys import ApiKeys
from shared.db.leases import Leases
from shared.db.requests import Requests
from shared.db.results import Results
from shared.db.sources import Sources
from shared.db.tenants import Tenants
from shared.quotas import Usage, day_of
from shared.records import RequestRecord


class Database:
    """One client per process, and the repositories over its collections."""

    def __init__(self, mongo_url: str, db_name: str) -> None:
        self._client: AsyncMongoClient[Document] = AsyncMongoClient(mongo_url, tz_aware=True)
        db = self._client[db_name]
        self._db = db
        self.requests = Requests(db["requests"])
        self.fanout = FanOut(db["requests"])
        self.images = Images(db["rows"], db["images"])
        self.keys = ApiKeys(db["api_keys"], db["idempotency_keys"])
        self.leases = Leases(db["leases"])
        self.sources = Sources(db["images"])
        self.results = Results(db["images"])
        self.tenants = Tenants(db["tenants"], db["tenant_days"])

    async def ensure_indexes(self) -> None:
        db = self._db
        await db["rows"].create_index([("request_id", ASCENDING), ("index", ASCENDING)])
        await db["images"].create_index(
            [("request_id", ASCENDING), ("row", ASCENDING), ("slot", ASCENDING)]
        )
        # Outputs a request made that later ones reuse are kept when it is deleted.
        await db["images"].create_index([("compressed_key", ASCENDING)])
        # A URL's latest source, a result's latest image (sources.py, results.py).
        await db["images"].create_index([("source._id", ASCENDING), ("finished_at", DESCENDING)])
        await db["images"].create_index([("result_id", ASCENDING), ("finished_at", DESCENDING)])
        await db["requests"].create_index([("tenant", ASCENDING), ("source.key", ASCENDING)])
        await db["requests"].create_index([("tenant", ASCENDING), ("created_at", ASCENDING)])
        await db["api_keys"].create_index([("tenant", ASCENDING)])
        await db["requests"].create_index([("status", ASCENDING), ("updated_at", ASCENDING)])
        await db["requests"].create_index([("status", ASCENDING), ("completed_at", ASCENDING)])

    async def forget(self, request_id: str) -> None:
        """Every record of a request: images and rows, the keys bound to it, then the request
        itself (last, so that a deletion cut short can be asked again), then any image a late
        duplicate outcome wrote meanwhile (the notifier removes those written after)."""
        await self.images.delete_of_request(request_id)
        await self.keys.release_claims_of(request_id)
        await self.requests.delete(request_id)
        await self.images.delete_of_request(request_id)

    async def expire(self, request: RequestRecord, at: datetime, kept_days: int) -> None:
        """Like `forget`, but the request's document becomes a tombstone (status expired), so
        its links can say what happened; replaced last, so an expiry cut short is redone (and
        then, as `forget` does, any image a late duplicate outcome wrote meanwhile)."""
        await self.images.delete_of_request(request.id)
        await self.keys.release_claims_of(request.id)
        await self.requests.tombstone(request, at, kept_days)
        await self.images.delete_of_request(request.id)

    async def usage(self, tenant: str, moment: datetime) -> Usage:
        """What counts against the tenant's limits at `moment` (shared/quotas.py)."""
        return Usage(
            in_progress=await self.requests.in_progress(tenant),
            images_today=await self.tenants.images_on(tenant, day_of(moment)),
            bytes_stored=await self.requests.bytes_stored(tenant),
        )

    async def ping(self) -> None:
        await self._client.admin.command("ping")

    async def close(self) -> None:
        await self._client.close()
