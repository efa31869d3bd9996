"""A bound on the pixels being compressed at once: the compressor's memory follows pixels.

A 16 MP photo needs about 110 MiB while it is decoded and re-encoded, a thumbnail almost
nothing, so counting images (prefetch, threads) cannot bound memory; counting pixels can.
Waiters are served first come, first served, so a big image is not starved by small ones.
"""

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class PixelBudget:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._free = capacity
        self._waiters: deque[tuple[int, asyncio.Future[None]]] = deque()

    @property
    def free(self) -> int:
        return self._free

    @property
    def idle(self) -> bool:
        """Nothing held and nothing waiting."""
        return self._free == self.capacity and not self._waiters

    @asynccontextmanager
    async def hold(self, pixels: int) -> AsyncIterator[None]:
        """Wait until `pixels` are free (all of them for an image bigger than the budget,
        which then runs alone), keep them while the block runs."""
        need = min(max(pixels, 1), self.capacity)
        if self._waiters or self._free < need:
            granted = asyncio.get_running_loop().create_future()
            waiter = (need, granted)
            self._waiters.append(waiter)
            try:
                await granted
            except asyncio.CancelledError:
                if granted.done() and not granted.cancelled():
                    self._release(need)  # granted just as it was cancelled: give it back
                elif waiter in self._waiters:
                    self._waiters.remove(waiter)
                    self._wake()  # it may have been the head, holding up smaller ones
                raise
        else:
            self._free -= need
        try:
            yield
        finally:
            self._release(need)

    def _release(self, pixels: int) -> None:
        self._free += pixels
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self._waiters[0][0] <= self._free:
            need, granted = self._waiters.popleft()
            if granted.cancelled():
                continue  # its task is being cancelled and will not wait any more
            self._free -= need
            granted.set_result(None)
