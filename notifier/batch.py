"""Group commit: what concurrent handlers hand in while a write is under way goes in the next
write, so a burst of small records costs a few writes, not one each.

Before each write it lingers while the burst is still growing (a step at a time, up to a
limit): outcomes that trickle in a few milliseconds apart, as a re-run's do, share a write
instead of taking one each, and a lone item waits one step.

Each handler waits for the write that holds its item, so its message is acked only once its
item is recorded; if that write fails, every handler in it fails and its message is retried.
"""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


STEP_S = 0.005  # lingering goes on while an item arrived within the last step…
LINGER_S = 0.05  # …for at most this long: what a burst adds to its items' latency


class GroupCommit(Generic[T]):
    def __init__(
        self,
        write: Callable[[list[T]], Awaitable[None]],
        step_s: float = STEP_S,
        linger_s: float = LINGER_S,
    ) -> None:
        self._write = write
        self._step_s = step_s
        self._linger_s = linger_s
        self._waiting: list[tuple[T, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def add(self, item: T) -> None:
        """Return once `item` has been written (or raise what its write raised)."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain())
        await done

    async def _drain(self) -> None:
        await asyncio.sleep(0)  # handlers started by the same delivery burst join the first write
        while self._waiting:
            await self._linger()
            batch, self._waiting = self._waiting, []
            try:
                await self._write([item for item, _ in batch])
            except Exception as exc:  # each handler's message is retried
                for _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
            else:
                for _, done in batch:
                    # A handler cancelled meanwhile (its broker connection closed) is not
                    # waiting any more; the others in this write and the next still are.
                    if not done.done():
                        done.set_result(None)

    async def _linger(self) -> None:
        """Wait while items keep arriving, a step at a time, for at most linger_s."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._linger_s
        while loop.time() < deadline:
            seen = len(self._waiting)
            await asyncio.sleep(min(self._step_s, max(0.0, deadline - loop.time())))
            if len(self._waiting) == seen:
                return
