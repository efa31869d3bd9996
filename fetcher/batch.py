"""fetcher: one message, a batch of fetches → each image fetched (fetcher/handler.py), side by
side up to the lane's bound; the fetches that failed transiently are retried as a batch of
their own, so a retry or a give-up never repeats or loses the others.
"""

import asyncio
import logging
import time
from dataclasses import dataclass, field

from fetcher.backpressure import CompressorBacklog
from fetcher.handler import handle, record_failure
from shared.consumer import GivenUp
from shared.errors import RetryLater, RetryPart
from shared.events import FetchBatch, FetchRequested
from shared.runtime import Clients

log = logging.getLogger(__name__)


@dataclass
class Lane:
    """One fetch queue: at most PREFETCH of its fetches at once in this process, whatever the
    batches; a bulk lane's fetches also wait while the compressor is behind (`backlog`)."""

    backlog: CompressorBacklog | None = None
    _slots: asyncio.Semaphore | None = field(default=None, init=False)

    def slots(self, clients: Clients) -> asyncio.Semaphore:
        if self._slots is None:
            self._slots = asyncio.Semaphore(clients.settings.prefetch)
        return self._slots


async def fetch_all(batch: FetchBatch, lane: Lane, clients: Clients) -> None:
    """Fetch every image of the batch; RetryPart names the fetches to try again, if any."""
    started = time.monotonic()
    slots = lane.slots(clients)

    async def fetch(message: FetchRequested) -> None:
        async with slots:
            if lane.backlog is None:
                await handle(message, clients)
                return
            # Held (unacked) while the compressor is behind: a big request's backlog waits in
            # its lane, which small requests overtake, not in the compressor's queue.
            await lane.backlog.hold(clients, started)
            stored = False
            try:
                stored = await handle(message, clients)
            finally:
                if not stored:  # failed, or its output was reused: nothing for the compressor
                    lane.backlog.added_nothing()

    outcomes = await asyncio.gather(*map(fetch, batch.fetches), return_exceptions=True)
    failed: list[tuple[FetchRequested, Exception]] = []
    for message, outcome in zip(batch.fetches, outcomes, strict=True):
        if isinstance(outcome, Exception):
            log.warning("fetch of %s failed: %s", message.image_id, str(outcome) or repr(outcome))
            failed.append((message, outcome))
        elif isinstance(outcome, BaseException):
            raise outcome  # cancelled: the process is stopping; the broker redelivers it
    if failed:
        raise retry_part(failed, len(batch.fetches))


def retry_part(failed: list[tuple[FetchRequested, Exception]], of: int) -> RetryPart:
    """The batch of the failed fetches, each with its reason, after the longest wait one of
    them asked for (Retry-After)."""
    reasons = [str(exc) or type(exc).__name__ for _, exc in failed]
    wanted = [exc.delay for _, exc in failed if isinstance(exc, RetryLater) and exc.delay]
    rest = FetchBatch(tuple(message for message, _ in failed), tuple(reasons))
    alike = len(set(reasons)) == 1
    reason = reasons[0] if alike else f"{len(failed)} of {of} fetches failed: {reasons[0]}, …"
    return RetryPart(reason, rest.encode(), max(wanted, default=None))


async def give_up(batch: FetchBatch, given_up: GivenUp, clients: Clients) -> None:
    """Record each fetch of a batch given up as failed, with its own last reason."""
    for message, reason in batch.reasons():
        await record_failure(message, given_up.of(reason), clients)
