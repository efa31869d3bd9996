"""Group commit: what concurrent handlers hand in while a write is under way goes in the next
write, so a burst of small records costs a few writes, not one each.

Each handler waits for the write that holds its item, so its message is acked only once its
item is recorded; if that write fails, every handler in it fails and its message is retried.
"""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class GroupCommit(Generic[T]):
    def __init__(self, write: Callable[[list[T]], Awaitable[None]]) -> None:
        self._write = write
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
