"""What a soak run measured, and which of its targets it missed."""

from dataclasses import dataclass, field

from tests.faults.checks import Outcome
from tests.soak.chaos import Kill
from tests.soak.load import Submitted
from tests.soak.rss import Flatness

FLAT = 0.10  # the bound on RSS growth from minute 2 to the end


@dataclass
class Run:
    seed: int
    duration_s: float  # SOAK_S: how long requests are submitted and targets killed
    images: int  # SOAK_IMAGES
    replicas: int
    baseline_s: float  # the moment RSS growth is measured from
    rss_asserted: bool  # the long run asserts flatness; a short one only reports it
    stuck_after_s: str  # the reconciler's STUCK_AFTER_S in this run
    run_s: float = 0.0  # first upload → every request final
    submitted: list[Submitted] = field(default_factory=list)
    kills: list[Kill] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    webhooks: list[int] = field(default_factory=list)  # distinct webhook events per request
    drained: bool = False
    consumers: dict[str, int] = field(default_factory=dict)  # per work queue, at the end
    connections: tuple[int, int] = (0, 0)  # the cluster's client connections: start, end
    held_back: dict[str, int] = field(default_factory=dict)  # dead-lettered, not yet confirmed
    reissued: set[str] = field(default_factory=set)  # images the reconciler re-issued
    reconciled_otherwise: list[str] = field(default_factory=list)  # its other log lines
    flat: list[Flatness] = field(default_factory=list)  # the never-killed processes
    lives: dict[str, tuple[int, int]] = field(default_factory=dict)  # killed: lives, peak kB

    @property
    def lost(self) -> int:
        return sum(o.lost for o in self.outcomes)

    @property
    def duplicated(self) -> int:
        return sum(o.duplicated for o in self.outcomes)

    @property
    def problems(self) -> list[str]:
        return [p for o in self.outcomes for p in o.problems]

    def too_much_growth(self) -> list[str]:
        """The function replicas whose RSS grew by FLAT or more (the gateway is reported)."""
        return [f.name for f in self.flat if f.name != "gateway" and f.growth >= FLAT]

    def failures(self) -> list[str]:
        """Every target the run missed; none for a pass."""
        found = [] if self.kills else ["nothing was killed"]
        found += self.problems[:20]
        if self.lost or self.duplicated:
            found.append(f"{self.lost} images lost, {self.duplicated} duplicated")
        if set(self.webhooks) != {1}:
            found.append(f"distinct webhook events per request: {self.webhooks}")
        if not self.drained:
            found.append("the work and delay queues did not drain")
        found += [
            f"{queue}: {n} consumers, not {self.replicas}"
            for queue, n in self.consumers.items()
            if n != self.replicas
        ]
        if self.connections[0] != self.connections[1]:
            start, end = self.connections
            found.append(f"client connections at the start / end: {start} / {end}")
        # Retries are held by the functions (shared/delays.py), so no queue may keep a message
        # neither ready nor delivered, and an image the reconciler had to re-issue was lost.
        if self.held_back:
            found.append(f"messages held back in a queue: {self.held_back}")
        if self.reissued:
            found.append(f"re-issued by the reconciler: {sorted(self.reissued)[:10]}")
        found += [f"reconciler: {line[:300]}" for line in self.reconciled_otherwise[:10]]
        if self.rss_asserted:
            found += [
                f"RSS of {name} grew by {FLAT:.0%} or more" for name in self.too_much_growth()
            ]
        return found
