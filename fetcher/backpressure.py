"""Bulk-lane fetches wait while the compressor's queue is deep.

Every original lands in one compressor queue, first come, first served. If the fetcher ran
ahead of the compressors, a big request's backlog would pile up there, and a small request's
originals would wait behind all of it. So a bulk-lane fetch waits, before it starts, while
that queue holds more than BULK_PAUSE_BACKLOG originals: the big request's backlog stays in
its lane queue, which small requests (the normal lane, never held) already overtake.

A held message stays unacked with this fetcher: if the process dies, the broker delivers it
again; nothing is lost and nothing is acked before it is done. Each fetch of a batch waits at
the gate on its own, so a batch's fetches pass as the compressor drains, not all at once.
"""

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable

from aio_pika.abc import AbstractRobustChannel, AbstractRobustConnection

from shared.runtime import Clients

log = logging.getLogger(__name__)

# The depth is asked for at most this often per fetcher process, however many fetches wait.
DEPTH_TTL_S = 0.5
# How often a held fetch looks again: well under the time the compressors take to drain
# BULK_PAUSE_BACKLOG originals, so they never run dry waiting for the fetcher to resume.
POLL_S = 0.2
# A held message is released after this long even if the queue is still deep (a stopped
# compressor): RabbitMQ closes the channel of a consumer holding a message unacked past its
# consumer timeout (30 min by default).
LONGEST_HOLD_S = 300.0


def holds(depth: int | None, bound: int, held_s: float) -> bool:
    """Whether a bulk-lane fetch keeps waiting: while the compressor's queue holds more than
    `bound` originals; not when the depth is unknown (the broker did not answer: fetching
    goes on as if there were no bound), nor once it has waited LONGEST_HOLD_S."""
    return depth is not None and depth > bound and held_s < LONGEST_HOLD_S


class Gate:
    """Holds bulk-lane fetches while the compressor's queue is deeper than `bound`.

    The depth is `probe`'s answer, asked again only when DEPTH_TTL_S old, plus the fetches let
    through since (each will add an original, and fast fetches would otherwise all pass on a
    stale answer); None while the probe fails.
    """

    def __init__(
        self,
        probe: Callable[[], Awaitable[int]],
        bound: int,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._probe, self._bound, self._clock, self._sleep = probe, bound, clock, sleep
        self._probed: int | None = None
        self._passed = 0  # fetches let through since the last probe
        self._at = -math.inf
        self._lock = asyncio.Lock()  # fetches waiting together share one probe

    async def depth(self) -> int | None:
        async with self._lock:
            if self._clock() - self._at >= DEPTH_TTL_S:
                try:
                    self._probed = await self._probe()
                except Exception as exc:  # the broker is away: the robust connection recovers
                    log.warning("cannot read the compressor's queue depth: %s", exc)
                    self._probed = None
                self._passed = 0
                self._at = self._clock()
            return None if self._probed is None else self._probed + self._passed

    def added_nothing(self) -> None:
        """A fetch let through stored no original after all (it failed, or an earlier output
        stands for its image): it no longer counts towards the depth."""
        self._passed = max(0, self._passed - 1)

    async def wait(self, since: float | None = None) -> float:
        """Wait while `holds` says so, then let one fetch through; returns the seconds held.

        `since` (this clock's time) counts the hold from then: the fetches of one message
        share one LONGEST_HOLD_S, so the message is settled well inside the consumer timeout.
        """
        start = self._clock() if since is None else since
        while holds(await self.depth(), self._bound, self._clock() - start):
            await self._sleep(POLL_S)
        self._passed += 1
        return self._clock() - start


class CompressorBacklog:
    """The compressor queue's depth, read by passive declares on a channel of its own (a
    failed declare closes its channel: never the consumers')."""

    def __init__(self, queue: str) -> None:
        self._queue = queue
        self._channel: AbstractRobustChannel | None = None
        self._gate: Gate | None = None

    async def hold(self, clients: Clients, since: float) -> None:
        """Wait before a bulk-lane fetch while the compressor's queue is deeper than the bound;
        `since` (time.monotonic()) is when its message's fetches began to wait."""
        if self._gate is None:
            connection = clients.connection
            self._gate = Gate(lambda: self._ready(connection), clients.settings.bulk_pause_backlog)
        held = await self._gate.wait(since)
        if held >= LONGEST_HOLD_S:
            log.warning("released a bulk-lane fetch after %.0f s: the compressor is behind", held)

    def added_nothing(self) -> None:
        if self._gate is not None:
            self._gate.added_nothing()

    async def _ready(self, connection: AbstractRobustConnection) -> int:
        if self._channel is None or self._channel.is_closed:
            self._channel = await connection.channel()
        # Not robust: a robust channel answers a passive declare of a queue it declared before
        # from its cache, with the depth of that time.
        queue = await self._channel.declare_queue(self._queue, passive=True, robust=False)
        return int(queue.declaration_result.message_count or 0)
