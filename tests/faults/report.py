"""The results table: one row per scenario, as Markdown."""

from collections.abc import Sequence

from tests.faults.scenario import Result

HEADER = (
    "| fault | injected at | images in | compressed | failed | lost | duplicated "
    "| wrongly failed | origin requests | reconciler re-issues | fault → progress (s) "
    "| fault → finished (s) | result |"
)


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def table(results: Sequence[Result], runtime_s: float) -> str:
    lines = [HEADER, "|" + "---|" * HEADER.count(" | ") + "---|"]
    for r in results:
        o = r.outcome
        verdict = "pass" if r.passed else f"FAIL ({len(o.problems)} problems)"
        cells = (
            r.fault,
            r.moment,
            o.images_in,
            o.compressed,
            o.failed,
            o.lost,
            o.duplicated,
            o.wrongly_failed,
            r.fetches,
            r.reissued,
            _seconds(r.to_progress),
            _seconds(r.to_finish),
            verdict,
        )
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    lines.append("")
    lines.append(f"Faults suite: {len(results)} scenarios in {runtime_s:.0f} s.")
    for r in results:
        lines.append(f"- {r.fault}: request {r.request_id}" + "".join(f"; {n}" for n in r.notes))
        lines.extend(f"  - {p}" for p in r.outcome.problems[:12])
    return "\n".join(lines) + "\n"
