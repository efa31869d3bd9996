"""Freed codec memory handed back to the system once the compressor has nothing in hand.

glibc keeps what a burst of decodes and encodes freed in its arenas, in pieces it cannot
return on its own: an idle compressor held 241 MiB after make bench's earlier benchmarks
(61 when fresh), and malloc_trim() gave most of it back (a burst of 3 x 16 corpus images at
quality=auto:high: 234 MiB held, 97 after). While images keep coming the pixel budget bounds
memory anyway, so the trim waits for a pause rather than costing each image a few ms.
"""

import asyncio
import ctypes
import ctypes.util
from collections.abc import Callable

from compressor.budget import PixelBudget

PAUSE_S = 1.0  # nothing in hand this long: trim


def _malloc_trim() -> Callable[[], object] | None:
    """glibc's malloc_trim(0), or None where the C library has none (musl)."""
    name = ctypes.util.find_library("c")
    trim = getattr(ctypes.CDLL(name), "malloc_trim", None) if name else None
    return None if trim is None else lambda: trim(0)


_TRIM = _malloc_trim()


class TrimWhenIdle:
    """After each image call `finished()`: once `budget` has held nothing for PAUSE_S, the
    process's free heap goes back to the system (in a thread: it walks every arena)."""

    def __init__(self, budget: PixelBudget, pause_s: float = PAUSE_S) -> None:
        self._budget = budget
        self._pause_s = pause_s
        self._timer: asyncio.TimerHandle | None = None
        self._trimming: asyncio.Task[object] | None = None
        self.trims = 0

    def finished(self) -> None:
        if _TRIM is None or not self._budget.idle:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_later(self._pause_s, self._trim)

    def _trim(self) -> None:
        self._timer = None
        if _TRIM is None or not self._budget.idle or self._trimming is not None:
            return
        self._trimming = asyncio.get_running_loop().create_task(asyncio.to_thread(_TRIM))
        self._trimming.add_done_callback(self._trimmed)

    def _trimmed(self, _: "asyncio.Task[object]") -> None:
        self._trimming = None
        self.trims += 1
