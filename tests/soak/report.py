"""The soak's figures, and its report as Markdown (docs/soak.md after `make soak`)."""

import itertools
import statistics
import textwrap
from collections import Counter

from tests.soak.chaos import INTERVAL_S, KINDS, PAUSE_S
from tests.soak.run import FLAT, Run


def _mib(kb: float) -> str:
    return f"{kb / 1024:.1f}"


def _spread(values: list[float]) -> str:
    if not values:
        return "—"
    return f"{min(values):.1f} / {statistics.median(values):.1f} / {max(values):.1f} s"


def _kills(run: Run) -> str:
    counts = Counter(k.kind for k in run.kills)
    return ", ".join(f"{kind} {counts[kind]}" for kind in KINDS)


def _webhooks(run: Run) -> str:
    spread = Counter(run.webhooks)
    return ", ".join(f"{n} for {c} of {len(run.webhooks)}" for n, c in sorted(spread.items()))


def _consumers(run: Run) -> str:
    counts = Counter(run.consumers.values())
    if len(counts) == 1:
        ((consumers, queues),) = counts.items()
        return f"{consumers} on each of the {queues} work queues"
    return ", ".join(f"{queue}: {n}" for queue, n in run.consumers.items())


def figures(run: Run) -> list[tuple[str, object]]:
    outcomes, submitted = run.outcomes, run.submitted
    at = sorted(k.at for k in run.kills)
    gaps = [b - a for a, b in itertools.pairwise(at)]
    nodes = [k for k in run.kills if k.kind == "broker"]
    processes = [k.down_s for k in run.kills if k.kind != "broker"]
    by_gateway = Counter(s.gateway for s in submitted)
    retried = [s for s in submitted if s.attempts > 1]
    return [
        (
            "chaos and submissions / first upload → every request final",
            f"{run.duration_s:.0f} s / {run.run_s:.0f} s",
        ),
        ("images / requests", f"{sum(o.images_in for o in outcomes)} / {len(submitted)}"),
        (
            "requests accepted per gateway replica / uploads retried (replayed)",
            f"{', '.join(str(by_gateway[n]) for n in sorted(by_gateway))} / "
            f"{len(retried)} ({sum(s.replayed for s in submitted)})",
        ),
        ("kills (SIGKILL), per target kind", f"{len(run.kills)}: {_kills(run)}"),
        ("between two kills, min / median / max", _spread(gaps)),
        ("a killed process down (kill → started again), min / median / max", _spread(processes)),
        ("a killed node down (kill → AMQP port answering)", _spread([k.down_s for k in nodes])),
        (
            "a restarted node back in the compressor's and the delay queues' Raft groups",
            _spread([k.rejoined_s for k in nodes if k.rejoined_s is not None]),
        ),
        (
            "images compressed / failed",
            f"{sum(o.compressed for o in outcomes)} / {sum(o.failed for o in outcomes)}",
        ),
        (
            "lost / duplicated / wrongly failed",
            f"{run.lost} / {run.duplicated} / {sum(o.wrongly_failed for o in outcomes)}",
        ),
        ("distinct webhook events per request", _webhooks(run)),
        ("work and delay queues drained afterwards", "yes" if run.drained else "NO"),
        ("consumers per work queue at the end", _consumers(run)),
        ("client connections, start / end", f"{run.connections[0]} / {run.connections[1]}"),
        ("messages held back in a queue (neither ready nor delivered)", run.held_back or 0),
        (
            f"images re-issued by the reconciler (after {run.stuck_after_s} s without progress)"
            " / its other corrections",
            f"{len(run.reissued)} / {len(run.reconciled_otherwise)}",
        ),
        ("seed (SOAK_SEED)", run.seed),
    ]


def table(run: Run) -> str:
    rows = figures(run)
    moment = "minute 2" if run.baseline_s == 120 else f"{run.baseline_s:.0f} s"
    verdict = (
        f"Growth below {FLAT:.0%} is asserted for the four functions (the gateway's is reported)."
        if run.rss_asserted
        else "Reported only, not asserted: a run this short says nothing about a leak."
    )
    fails = run.failures()
    lines = [
        "| figure | value |",
        "|---|---|",
        *(f"| {label} | {value} |" for label, value in rows),
        "",
        "Resident memory (VmRSS, MiB) of the first replicas, never killed: the median of the "
        f"samples within 15 s of {moment}, and of those of the run's last 30 s. {verdict}",
        "",
        f"| process | at {moment} | at the end | growth | peak | samples |",
        "|---|---|---|---|---|---|",
        *(
            f"| {f.name} | {_mib(f.baseline_kb)} | {_mib(f.end_kb)} | {f.growth:+.1%} "
            f"| {_mib(f.peak_kb)} | {f.samples} |"
            for f in run.flat
        ),
        "",
        "The replicas killed, each life sampled on its own: "
        + "; ".join(
            f"{name}: {lives} lives, up to {_mib(peak)} MiB"
            for name, (lives, peak) in run.lives.items()
        )
        + ".",
        "",
        f"Result: {'FAIL' if fails else 'pass'}",
        *(f"- {failure}" for failure in fails),
    ]
    return "\n".join(lines) + "\n"


def document(run: Run) -> str:
    """docs/soak.md: what the run does, then its table."""
    (low, high), (pause_low, pause_high) = INTERVAL_S, PAUSE_S
    requests = max(1, len(run.submitted))
    paragraphs = [
        f"Written by `make soak` (`tests/soak/`, `SOAK_S={run.duration_s:.0f} "
        f"SOAK_IMAGES={run.images}`). The suite runs a three-node RabbitMQ cluster of its own "
        f"and {run.replicas} replicas of every function and of the gateway, with the relay, "
        "SeaweedFS and SecantusDB, all on one machine.",
        f"Load: for {run.duration_s:.0f} s, a request of about {round(run.images / requests)} good "
        f"images (the sample photos and distinct generated ones) every "
        f"{run.duration_s / requests:.0f} s, alternately to each gateway replica; an upload "
        "that fails is sent again to the other gateway with the same `Idempotency-Key`.",
        f"Chaos: meanwhile, every uniform({low:.0f}, {high:.0f}) s (seeded), one target is "
        "killed with SIGKILL: the second replica of a function or of the gateway, the relay, "
        "or a broker node, the kinds drawn in turn from a shuffled deck. A process is started "
        f"again {pause_low:.0f}–{pause_high:.0f} s later. A node is started again after the "
        "same pause while the kills go on, and the next node is killed only once every quorum "
        "queue has all its members online again: one node at most is ever down, so every "
        "queue keeps its quorum. The first replica of each function and of the gateway is "
        "never killed, so that its memory (VmRSS, sampled every 2 s) can be followed over the "
        "whole run.",
        "Checks, once every request is final: the faults suite's on each request (its records, "
        "one original and one output object per image, the output CSV, one webhook event, "
        "signed, verified as it arrived, and no dead letter); the work and delay queues "
        "drained, every replica consuming each of its queues, as many client connections as "
        "at the start, no message held back in a queue and no image re-issued by the "
        "reconciler; and, in a run of 10 minutes or more, each function's RSS grew by less than "
        f"{FLAT:.0%} from minute 2 to the end. Speeds are reported, never asserted.",
    ]
    title = f"# Soak: {run.duration_s / 60:.0f} minutes of random kills under continuous load"
    text = "\n\n".join(textwrap.fill(p, 96, break_on_hyphens=False) for p in paragraphs)
    return f"{title}\n\n{text}\n\n{table(run)}\n{_kill_list(run)}"


def _kill_list(run: Run) -> str:
    """Every kill, in order: when, what, how long it was down."""
    head = (
        "The kills, in order (a node is down until its AMQP port answers again, then rejoins "
        "its queues' Raft groups; a kill due while the target before it is still coming back, "
        "or before every quorum queue has its members online again, waits for that):"
    )
    lines = [head, "", "| at | target | down | node rejoined | waited for quorum |"]
    lines.append("|---|---|---|---|---|")
    for k in sorted(run.kills, key=lambda k: k.at):
        node = k.kind == "broker"
        rejoined = "" if k.rejoined_s is None else f"{k.rejoined_s:.1f} s"
        waited = f"{k.waited_s:.1f} s" if node else ""
        lines.append(f"| {k.at:.0f} s | {k.target} | {k.down_s:.1f} s | {rejoined} | {waited} |")
    return "\n".join(lines) + "\n"
