"""The cluster run's figures, and its report as Markdown."""

from dataclasses import dataclass, field

from shared.retry import DELAY_QUEUE_PREFIX
from tests.cluster.conftest import STUCK_AFTER_S
from tests.faults.checks import Outcome


@dataclass
class Run:
    images: int
    requests: int
    replicas: int
    members_before: dict[str, int] = field(default_factory=dict)  # queues on all nodes, by type
    members_after: dict[str, int] = field(default_factory=dict)
    killed: str = ""
    led: list[str] = field(default_factory=list)  # queues the killed node led
    at_kill: tuple[int, int, int] = (0, 0, 0)  # images finished, images in all, delayed messages
    new_leader: str = ""  # of the compressor's queue, while the node was down
    delay_leaders: dict[str, str] = field(default_factory=dict)  # meanwhile
    clients: int = 0  # connections the cluster listed before the kill
    clients_back: int = 0  # … and after it, when every one was back or the wait ended
    kill_to_reconnected: float | None = None  # kill → every client on a surviving node
    reconnected_to_progress: float | None = None  # → the next image finished
    down_s: float = 0.0
    restart_s: float = 0.0  # start command → AMQP port answering
    rejoined_s: float | None = None  # start command → back in the queues' Raft groups
    run_s: float = 0.0  # first upload → every request final
    outcomes: list[Outcome] = field(default_factory=list)
    webhooks: list[int] = field(default_factory=list)  # distinct webhook events per request
    drained: bool = False
    held_back: dict[str, int] = field(default_factory=dict)  # dead-lettered, not yet confirmed
    work: dict[str, int] = field(default_factory=dict)  # per replica
    reissued: set[str] = field(default_factory=set)  # images the reconciler re-issued
    reconciled_otherwise: list[str] = field(default_factory=list)  # its other log lines

    @property
    def lost(self) -> int:
        return sum(o.lost for o in self.outcomes)

    @property
    def duplicated(self) -> int:
        return sum(o.duplicated for o in self.outcomes)


def _s(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} s"


def _led(run: Run) -> str:
    delay = [q for q in run.led if q.startswith(DELAY_QUEUE_PREFIX)]
    work = [q for q in run.led if q not in delay and not q.endswith(".dead")]
    return (
        f"{len(run.led)} of {run.members_before.get('quorum', 0)}: {len(work)} work queues "
        f"(the compressor's among them), {len(delay)} delay queues, the rest dead-letter queues"
    )


def table(run: Run) -> str:
    done, total, delayed = run.at_kill
    outcomes = run.outcomes
    problems = [p for o in outcomes for p in o.problems]
    in_all = sum(o.images_in for o in outcomes)
    compressed, failed = sum(o.compressed for o in outcomes), sum(o.failed for o in outcomes)
    rows = [
        (
            "images in / compressed / failed (as the workload expects)",
            f"{in_all} / {compressed} / {failed}",
        ),
        (
            "lost / duplicated / wrongly failed",
            f"{run.lost} / {run.duplicated} / {sum(o.wrongly_failed for o in outcomes)}",
        ),
        ("distinct webhook events, per request", ", ".join(map(str, run.webhooks))),
        ("work and delay queues drained afterwards", "yes" if run.drained else "NO"),
        (
            "messages held back in a queue (neither ready nor delivered)",
            run.held_back or 0,
        ),
        (
            f"images the reconciler re-issued (after {STUCK_AFTER_S} s without progress) / "
            "other corrections",
            f"{len(run.reissued)} / {len(run.reconciled_otherwise)}",
        ),
        (
            "queues with a member on every node, before / after",
            f"{run.members_before} / {run.members_after}",
        ),
        ("node killed (SIGKILL)", run.killed),
        ("when", f"{done}/{total} images finished, {delayed} messages waiting in delay queues"),
        ("queues it led", _led(run)),
        ("compressor queue's leader while it was down", run.new_leader),
        (
            "delay queues' leaders meanwhile",
            ", ".join(f"{q}: {n}" for q, n in run.delay_leaders.items()),
        ),
        (
            "kill → every process reconnected to a surviving node",
            f"{_s(run.kill_to_reconnected)} ({run.clients_back} of {run.clients} connections)",
        ),
        ("reconnected → the next image finished", _s(run.reconnected_to_progress)),
        ("node down for", _s(run.down_s)),
        ("restart → AMQP port open", _s(run.restart_s)),
        (
            "restart → back in the Raft groups of the compressor's and the delay queues",
            _s(run.rejoined_s),
        ),
        ("first upload → every request final", _s(run.run_s)),
    ]
    lines = [
        f"Broker cluster run: {run.images} images in {run.requests} requests, three RabbitMQ "
        f"nodes, {run.replicas} replicas of every function and of the gateway.",
        "",
        "| figure | value |",
        "|---|---|",
        *(f"| {label} | {value} |" for label, value in rows),
        "",
        "Work per replica (messages handled; for a gateway, HTTP requests answered):",
        "",
        "| replica | work |",
        "|---|---|",
        *(f"| {name} | {count} |" for name, count in run.work.items()),
        "",
        f"Result: {'pass' if not problems and run.drained else 'FAIL'}",
        *(f"- {p}" for p in problems[:20]),
    ]
    return "\n".join(lines) + "\n"
