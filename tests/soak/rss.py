"""Resident memory of the stack's processes over the run, from /proc/<pid>/status (VmRSS).

Every process is sampled every few seconds, each lifetime (name and pid) on its own: a killed
replica's next life starts a new series. Flatness is judged on the replicas that live through
the whole run, from a window around a moment early in the run (minute 2 in the long run) to a
window at its end: medians of the samples in each, so one image being decoded at the moment of
a sample does not decide it.
"""

import asyncio
import contextlib
import statistics
import time
from dataclasses import dataclass, field

from deploy.local.stack import Stack

WINDOW_S = 30.0  # the samples of this long around the baseline moment, and at the end
EVERY_S = 2.0

Life = tuple[str, int]  # process name, pid


def rss_kb(pid: int) -> int | None:
    """The process's resident set in kB; None once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None  # a zombie has no VmRSS line


@dataclass(frozen=True)
class Flatness:
    """One process's resident memory at the baseline and at the end of the run."""

    name: str
    baseline_kb: float
    end_kb: float
    peak_kb: int
    samples: int

    @property
    def growth(self) -> float:
        return (self.end_kb - self.baseline_kb) / self.baseline_kb


@dataclass
class Sampler:
    """Samples every process of `stack` until stopped; `started` is the run's start."""

    stack: Stack
    started: float
    series: dict[Life, list[tuple[float, int]]] = field(default_factory=dict)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), EVERY_S)
        self.sample()  # the very end

    def stop(self) -> None:
        self._stop.set()

    def sample(self) -> None:
        moment = time.monotonic() - self.started
        for name, pid in self.stack.procs.copy().items():
            if (kb := rss_kb(pid)) is not None:
                self.series.setdefault((name, pid), []).append((moment, kb))

    def lives(self, name: str) -> list[list[tuple[float, int]]]:
        """Each lifetime's samples of the process `name`, in order."""
        return [samples for (n, _), samples in self.series.items() if n == name]

    def flatness(self, name: str, baseline_s: float) -> Flatness:
        """`name`'s only life, from the window around `baseline_s` to the last WINDOW_S."""
        (samples,) = self.lives(name)  # one life: it was never killed
        last = samples[-1][0]
        around = [kb for t, kb in samples if abs(t - baseline_s) <= WINDOW_S / 2]
        end = [kb for t, kb in samples if t >= last - WINDOW_S]
        return Flatness(
            name,
            statistics.median(around),
            statistics.median(end),
            max(kb for _, kb in samples),
            len(samples),
        )
