"""The retention sweep (issue 14): expired requests become tombstones, expired objects go.

The reconciler runs it (notifier/reconcile.py), so one notifier replica at a time, and at
most once per `sweep_interval_s`: a lease in MongoDB remembers the last complete pass across
replicas and restarts. Each pass does bounded work, REQUESTS_PER_PASS requests and
OBJECTS_PER_PASS listed objects per bucket; one that leaves more continues at the
reconciler's next round.

- Requests (always; MongoDB has no expiry rule that spans collections): one finished more
  than RETAIN_REQUESTS_DAYS ago loses its originals, compressed copies, stored CSV (unless
  another request of the tenant was made from it) and records, and its document becomes a
  tombstone (status expired), so its links answer 410 saying why.
- Objects (only with SWEEP_OBJECTS, for a store without lifecycle rules): originals and
  compressed copies last written more than RETAIN_ORIGINALS_DAYS / RETAIN_COMPRESSED_DAYS ago.
"""

import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from shared.names import COMPRESSED_BUCKET, ORIGINALS_BUCKET
from shared.removal import remove_objects
from shared.retention import cutoff, is_expired
from shared.runtime import Clients
from shared.storage import ObjectStore

log = logging.getLogger(__name__)
LEASE = "retention-sweep"
REQUESTS_PER_PASS = 100  # each costs a listing and deletes per bucket, and three writes
OBJECTS_PER_PASS = 10_000  # ten listing pages per bucket


@dataclass
class Sweeper:
    """One replica's sweep. `after`: where its scan of each bucket stopped (in memory: a
    replica taking over scans from the start again, which only repeats some listing)."""

    after: dict[str, str] = field(default_factory=dict)

    async def run_if_due(self, clients: Clients) -> None:
        """A pass, unless one finished less than `sweep_interval_s` ago."""
        settings, leases = clients.settings, clients.db.leases
        holder = uuid.uuid4().hex  # a new holder: only a lapsed lease can be taken
        # Held for one round while the pass runs; once nothing is left, for a whole interval.
        if not await leases.acquire(LEASE, holder, settings.reconcile_interval_s):
            return
        if not await self.sweep(clients, datetime.now(UTC)):
            await leases.acquire(LEASE, holder, settings.sweep_interval_s)

    async def sweep(self, clients: Clients, now: datetime) -> bool:
        """One bounded pass as of `now`; True if it left work for the next."""
        settings = clients.settings
        more = await self._requests(clients, now)
        if settings.sweep_objects:
            for bucket, days in (
                (ORIGINALS_BUCKET, settings.retain_originals_days),
                (COMPRESSED_BUCKET, settings.retain_compressed_days),
            ):
                more = await self.objects(clients.store, bucket, days, now) or more
        return more

    async def _requests(self, clients: Clients, now: datetime) -> bool:
        days = clients.settings.retain_requests_days
        limit = cutoff(now, days)
        if limit is None:
            return False
        found = await clients.db.requests.finished_before(limit, REQUESTS_PER_PASS)
        for request in found:
            await remove_objects(request, clients)
            await clients.db.expire(request, now, days)
            log.info("request %s expired: finished %s", request.id, request.completed_at)
        return len(found) == REQUESTS_PER_PASS

    async def objects(self, store: ObjectStore, bucket: str, days: int, now: datetime) -> bool:
        """Delete the bucket's objects older than `days` among the next OBJECTS_PER_PASS of
        its scan; True if the scan has more (the next pass goes on from there)."""
        if cutoff(now, days) is None:
            return False
        page = await store.listing(bucket, self.after.get(bucket, ""), OBJECTS_PER_PASS)
        expired = [obj.key for obj in page if is_expired(obj.modified, now, days)]
        await store.remove(bucket, expired)
        if expired:
            log.info("%s: %d objects older than %d days deleted", bucket, len(expired), days)
        more = len(page) == OBJECTS_PER_PASS
        self.after[bucket] = page[-1].key if more else ""
        return more
