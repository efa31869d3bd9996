"""docs/benchmarks.md from one run's Results: goals first, then each benchmark's tables."""

from collections.abc import Callable, Sequence
from pathlib import Path

from bench import plots, procs, report_perceptual
from bench.fairness import FairnessResult
from bench.latency import HOPS, RELAY, WORK, LatencyResult
from bench.quality import FORMATS, OURS, SEED, SETTINGS
from bench.results import Results
from bench.scale import ScaleResult
from shared.events import FETCHES_PER_MESSAGE
from shared.settings import Settings

FINDINGS = Path(__file__).with_name("findings.md")
COMMANDS = """## Commands

```sh
make bench          # everything below; writes this file and its plots
make bench-smoke    # a tiny run of every benchmark (CI runs it); asserts no timings
.venv/bin/python -m bench --only codec,perceptual   # a subset, any of:
                    # codec, quality, perceptual, pipeline, profile, latency, replicas,
                    # rerun, fairness, scale
```"""


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    def cell(value: object) -> str:
        return str(value).replace("|", "\\|")

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _met(value: float | None, ok: Callable[[float], bool]) -> str:
    if value is None:
        return "not measured"
    return "**met**" if ok(value) else "**not met**"


def _f(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def summary(r: Results) -> str:
    rows: list[list[str]] = []
    ratio = r.pipeline_ratio()
    rows.append(
        [
            "2. pipeline ÷ codec limit (bare Pillow q50)",
            "≥ 0.80",
            _f(ratio),
            _met(ratio, lambda v: v >= 0.8),
        ]
    )
    ratio_c = r.pipeline_ratio("compress")
    rows.append(["2. pipeline ÷ codec limit (our compress())", "(context)", _f(ratio_c), ""])
    overhead = r.cpu_overhead()
    rows.append(
        [
            "2. our functions' CPU/image ÷ bare codec CPU/image",
            "≤ 1.2",
            _f(overhead),
            _met(overhead, lambda v: v <= 1.2),
        ]
    )
    overhead_c = r.cpu_overhead("compress")
    rows.append(
        ["2. our functions' CPU/image ÷ compress() CPU/image", "(context)", _f(overhead_c), ""]
    )
    if r.latency is not None:
        for name, *_ in HOPS:
            if r.latency.hops_ms[name]:
                p50 = r.latency.percentile(name, 50)
                rows.append(
                    [f"3. p50 {name}", "≤ 20 ms", f"{p50:,.0f} ms", _met(p50, lambda v: v <= 20)]
                )
    for s in r.scales:
        fan_out_mb = max(s.peak_rss_mib.values(), default=0.0) * 1.048576
        rows += [
            [
                f"4. fan-out of {s.urls:,} URLs",
                "≥ 10,000 URLs/s",
                f"{s.urls_per_s:,.0f} URLs/s",
                _met(s.urls_per_s, lambda v: v >= 10_000),
            ],
            [
                f"13. peak RSS of any function during the {s.urls:,}-URL fan-out",
                "≤ 200 MB",
                f"{fan_out_mb:,.0f} MB",
                _met(fan_out_mb, lambda v: v <= 200),
            ],
            [
                f"13. status of the {s.urls:,}-URL request (its first page)",
                "≤ 0.5 s",
                f"{s.status_s:,.2f} s, {s.status_bytes / 1e6:,.1f} MB",
                _met(s.status_s, lambda v: v <= 0.5),
            ],
        ]
        if s.slowest_read_s:
            worst = max(s.slowest_read_s.values())
            rows.append(
                [
                    f"16. slowest status/list/readyz answer during the {s.urls:,}-URL fan-out",
                    "≤ 2 s",
                    f"{worst:,.2f} s",
                    _met(worst, lambda v: v <= 2),
                ]
            )
    if r.page is not None:
        slowest = max(r.page.opened_s, r.page.next_s)
        rows.append(
            [
                f"13. web page on the {r.page.urls:,}-URL request: rows shown, opened and paged",
                "usable (≤ 2 s, as reads during a fan-out)",
                f"{r.page.opened_s:,.2f} s, next page {r.page.next_s:,.2f} s",
                _met(slowest, lambda v: v <= 2),
            ]
        )
    if r.scales and (peak := r.peak_rss()) is not None:
        name, mib = peak
        mb = mib * 1.048576
        rows.append(
            [
                "4. peak RSS of any function (pipeline and fan-outs)",
                "≤ 200 MB",
                f"{mb:,.0f} MB: {name}",
                _met(mb, lambda v: v <= 200),
            ]
        )
    for pinned, label in ((True, "one core each"), (False, "sharing the machine's cores")):
        speedup = r.replica_speedup(pinned)
        rows.append(
            [
                f"4. 2 vs 1 compressor replicas, {label}",
                "≥ 1.8× (with enough cores)" if pinned else "(context)",
                _f(speedup),
                _met(speedup, lambda v: v >= 1.8) if pinned else "",
            ]
        )
    bytes_ratio = r.bytes_ratio()
    below = r.below_seed()
    rows.append(
        [
            "5. JPEG bytes ÷ seed's, every SSIM ≥ seed's",
            "≤ 0.88, 0 below",
            f"{_f(bytes_ratio, 3)}, {len(below)} below",
            _met(bytes_ratio, lambda v: v <= 0.88 and not below),
        ]
    )
    if r.perceptual is not None:
        rows += report_perceptual.goal_rows(r.perceptual, _met)
    if r.rerun is not None and len(r.rerun.steps) == 3:
        first, again, changed = r.rerun.steps
        faster = first.wall_s / again.wall_s if again.wall_s else None
        rows.append(
            [
                f"14. the same {r.rerun.urls:,}-URL CSV again: first upload's time ÷ the second's",
                "≥ 10",
                _f(faster),
                _met(faster, lambda v: v >= 10),
            ]
        )
        rows.append(
            [
                "14. the second upload: images compressed (not reused)",
                "0 (no codec CPU)",
                f"{again.done - again.reused}; compressor CPU {again.compressor_cpu_s:.1f} s "
                f"(first {first.compressor_cpu_s:.1f} s)",
                _met(again.done - again.reused, lambda v: v == 0),
            ]
        )
        rows.append(
            [
                "13. database writes per image, end to end (the first upload: fetched, "
                "compressed, recorded)",
                "≤ 2",
                _f(first.writes_per_image()),
                _met(first.writes_per_image(), lambda v: v <= 2),
            ]
        )
        recompressed = changed.done - changed.reused
        rows.append(
            [
                "14. 10 % replaced at the same URLs: images compressed",
                f"exactly those {r.rerun.changed}",
                str(recompressed),
                _met(recompressed, lambda v: v == r.rerun.changed if r.rerun else False),
            ]
        )
    # Held back means waiting for the big request's backlog: what it may wait for is the
    # compressor's bounded queue (BULK_PAUSE_BACKLOG) and the images being compressed.
    bound = 2 * Settings.bulk_pause_backlog
    for issue, f in (("14", r.fairness), ("13", r.fairness_million)):
        if f is None:
            continue
        finished = f.big_finished_after - f.big_finished_before
        about = (
            f"{issue}. a {f.small_images}-image request beside another tenant's "
            f"{f.big_images:,}-image one: the big one's images"
        )
        if f.big_ahead is not None:
            rows.append(
                [
                    f"{about} compressed while its originals were at the compressor",
                    f"≤ {bound} (2 × BULK_PAUSE_BACKLOG, not its backlog)",
                    f"{f.big_ahead:,}",
                    _met(f.big_ahead, lambda v: v <= bound),
                ]
            )
        rows.append(
            [
                f"{about} finished meanwhile (upload → webhook)",
                "(context)" if f.big_ahead is not None else f"≤ {bound}",
                f"{finished:,}",
                "" if f.big_ahead is not None else _met(finished, lambda v: v <= bound),
            ]
        )
        rows.append(
            [
                f"{issue}. the same: its time ÷ its time alone",
                "(context)",
                f"{_f(f.ratio)} ({f.contended_s:,.2f} s ÷ {f.idle_s:,.2f} s)",
                "",
            ]
        )
    return _table(["goal", "target", "measured", ""], rows)


def fairness(r: Results) -> str:
    runs = [f for f in (r.fairness, r.fairness_million) if f is not None]
    return "\n\n".join(map(_fairness_run, runs)) if runs else "Not run."


def _fairness_run(f: FairnessResult) -> str:
    big = "was not run to its end" if f.big_s is None else f"took {f.big_s:,.1f} s upload → webhook"
    return f"Beside a request of {f.big_images:,} images:\n\n" + _table(
        ["small request", "upload → webhook s", "originals queued for the compressor at its upload",
         f"the big request's images finished (of {f.big_images:,})"],
        [
            ["alone (idle stack)", f"{f.idle_s:,.2f}", "–", "–"],
            ["beside the big request", f"{f.contended_s:,.2f}", f"{f.compressor_queue:,}",
             f"{f.big_finished_before:,} at its upload, {f.big_finished_after:,} at its webhook"],
        ],
    ) + (
        f"\n\nRatio {_f(f.ratio)}; the big request {big}."
    ) + (
        "" if f.big_ahead is None else f" {f.big_ahead:,} of its images were compressed between "
        "the small request's first original stored and its last image compressed."
    )  # fmt: skip


def rerun(r: Results) -> str:
    if r.rerun is None:
        return "Not run."
    return _table(
        ["upload", "done", "upload → webhook s", "compressor CPU s", "downloaded (200)",
         "revalidated (304)", "outputs reused", "DB writes per image"],
        [
            [s.label, s.done, f"{s.wall_s:,.1f}", f"{s.compressor_cpu_s:,.1f}", s.downloaded,
             s.not_modified, s.reused, _f(s.writes_per_image())]
            for s in r.rerun.steps
        ],
    ) + "".join(
        f"\n\nDocuments written, {s.label}: " + ", ".join(
            f"{what} {n:,}" for what, n in sorted(s.db_writes.items(), key=lambda kv: -kv[1])
        )
        for s in r.rerun.steps[:2]
    )  # fmt: skip


def machine(r: Results) -> str:
    rows = [[k, v] for k, v in r.machine.items()]
    rows += [[f"load average after {k}", v] for k, v in r.load_after.items()]
    return _table(["", ""], rows)


def codec(r: Results) -> str:
    rows = [
        [
            c.loop,
            c.processes,
            f"{c.images:,}",
            f"{c.wall_s:,.1f}",
            f"{c.images_per_s:,.1f}",
            f"{c.mp_per_s:,.1f}",
            f"{c.cpu_ms_per_image:,.1f}",
        ]
        for c in r.codec.values()
    ]
    header = ["loop", "processes", "images", "wall s", "images/s", "MP/s", "CPU ms/image"]
    return _table(header, rows)


LABELS = {
    **{name: f"ours: {name}" for name in procs.OURS},
    **{key: f"stand-in: {what}" for key, what in procs.STAND_INS.items()},
    "rabbitmq": "stand-in: RabbitMQ (beam.smp, shared node)",
    "bench": "benchmark (image origin, webhook, polling)",
    "images": "stack's sample image server",
    procs.MACHINE: "machine busy time (all processes)",
}


def labels_of(key: str) -> str:
    return LABELS.get(key, key)


def pipeline(r: Results) -> str:
    p = r.pipeline
    if p is None:
        return "Not run."
    lines = [
        _table(
            [
                "URLs",
                "MP",
                "done",
                "failed",
                "upload → webhook s",
                "images/s",
                "÷ bare codec limit",
                "÷ compress() limit",
            ],
            [
                [
                    p.urls,
                    f"{p.megapixels:,.0f}",
                    p.done,
                    p.failed,
                    f"{p.wall_s:,.1f}",
                    f"{p.images_per_s:,.1f}",
                    _f(r.pipeline_ratio()),
                    _f(r.pipeline_ratio("compress")),
                ]
            ],
        ),
        "",
        "CPU used during the run, per process (seconds; share of all the machine's busy time):",
        "",
    ]
    machine_s = p.cpu_s.get(procs.MACHINE, 0.0)
    accounted = {k: v for k, v in p.cpu_s.items() if k != procs.MACHINE}

    rows = [
        [
            labels_of(k),
            f"{v:,.1f}",
            f"{100 * v / machine_s:,.0f} %" if machine_s else "–",
            f"{1000 * v / p.urls:,.1f}",
        ]
        for k, v in sorted(accounted.items(), key=lambda kv: -kv[1])
    ]
    other = machine_s - sum(accounted.values())
    rows.append(
        [
            "other processes on the machine",
            f"{other:,.1f}",
            f"{100 * other / machine_s:,.0f} %" if machine_s else "–",
            "",
        ]
    )
    rows.append(["machine busy time (2 cores)", f"{machine_s:,.1f}", "100 %", ""])
    lines.append(_table(["process", "CPU s", "share", "CPU ms/image"], rows))
    ours = p.cpu_of(procs.OURS)
    stand = p.cpu_of((*procs.STAND_INS, "rabbitmq"))
    lines += [
        "",
        f"Our functions: {ours:,.1f} CPU s ({1000 * ours / p.urls:,.1f} ms/image); stand-ins: "
        f"{stand:,.1f} CPU s ({1000 * stand / p.urls:,.1f} ms/image). Bare codec CPU/image "
        f"{_f(r.codec['bare'].cpu_ms_per_image if 'bare' in r.codec else None, 1)} ms, compress() "
        f"{_f(r.codec['compress'].cpu_ms_per_image if 'compress' in r.codec else None, 1)} ms.",
        "",
        "Peak RSS during the run: "
        + ", ".join(f"{k} {v:,.0f} MiB" for k, v in sorted(p.peak_rss_mib.items())),
    ]
    return "\n".join(lines)


def latency(r: Results) -> str:
    lat = r.latency
    if lat is None:
        return "Not run."
    rows = [[name, spans, *_percentiles(lat, name)] for name, spans, _ in HOPS if lat.hops_ms[name]]
    hops = _table(
        ["hop (written → next function starts)", "spans", "samples", "p50 ms", "p95 ms"], rows
    )
    rows = [[name, *_percentiles(lat, name)] for name, _ in WORK if lat.hops_ms[name]]
    if lat.hops_ms[RELAY]:
        rows.append([f"{RELAY} (MinIO does this in production)", *_percentiles(lat, RELAY)])
    work = _table(["work in between", "samples", "p50 ms", "p95 ms"], rows)
    return f"{hops}\n\n{work}"


def _percentiles(lat: LatencyResult, name: str) -> list[object]:
    return [
        len(lat.hops_ms[name]),
        f"{lat.percentile(name, 50):,.0f}",
        f"{lat.percentile(name, 95):,.0f}",
    ]


def scale(r: Results) -> str:
    if not r.scales:
        return "Not run."
    header = [
        "URLs",
        "CSV bytes",
        "upload answered s",
        "CSV checked s",
        "rows saved s",
        "all fetch messages queued s",
        "URLs/s",
    ]
    runs = [
        [
            f"{s.urls:,}",
            f"{s.csv_bytes:,}",
            f"{s.accepted_s:,.2f}",
            "–" if s.checked_s is None else f"{s.checked_s:,.1f}",
            "–" if s.saved_s is None else f"{s.saved_s:,.1f}",
            f"{s.published_s:,.1f}",
            f"{s.urls_per_s:,.0f}",
        ]
        for s in r.scales
    ]
    parts = [_table(header, runs)]
    parts += [f"### {s.urls:,} URLs\n\n" + _scale_run(s) for s in r.scales]
    if r.page is not None:
        parts.append(
            f"### The web page on the {r.page.urls:,}-URL request\n\n"
            "Chromium (Playwright) opens the request's progress view (the key in the tab's "
            "session storage): its first 100 rows and counts show in "
            f'{r.page.opened_s:,.2f} s; "Next rows" shows the next 100 in '
            f'{r.page.next_s:,.2f} s. The page says: "{r.page.counts}".'
        )
    return "\n\n".join(parts)


def _scale_run(s: ScaleResult) -> str:
    lines = [
        "CPU from the upload until every message was queued (seconds; cores busy on average):",
        "",
        _table(
            ["process", "CPU s", "cores"],
            [
                [labels_of(k), f"{v:,.1f}", f"{v / s.published_s:,.2f}"]
                for k, v in sorted(s.cpu_s.items(), key=lambda kv: -kv[1])
                if v >= 0.05
            ],
        ),
        "",
        "Peak RSS (VmHWM, reset before the upload) of each function process:",
        "",
        _table(
            ["process", "peak RSS MiB"],
            [[k, f"{v:,.0f}"] for k, v in sorted(s.peak_rss_mib.items())],
        ),
        "",
        f"`GET /api/status/<id>` on that request: HTTP {s.status_code}, {s.status_s:,.2f} s, "
        f"{s.status_bytes:,} bytes.",
        "",
        f"The reads a person or dashboard makes, polled one after another during the fan-out "
        f"({s.reads:,} answers in all): the slowest of each.",
        "",
        _table(
            ["read", "slowest answer s"],
            [[name, f"{t:,.2f}"] for name, t in s.slowest_read_s.items()],
        ),
    ]
    return "\n".join(lines)


def replicas(r: Results) -> str:
    if not r.replicas:
        return "Not run."
    rows = [
        [
            x.replicas,
            "1 each (pinned)" if x.pinned else "all, shared",
            x.images,
            f"{x.drain_s:,.1f}",
            f"{x.images_per_s:,.1f}",
            f"{x.compressor_cpu_s:,.1f}",
            f"{x.compressor_cpu_s / x.drain_s:,.2f}" if x.drain_s else "–",
            f"{x.machine_cpu_s:,.1f}",
        ]
        for x in r.replicas
    ]
    text = _table(
        [
            "compressor processes",
            "cores",
            "images",
            "first → last compressed s",
            "images/s",
            "compressor CPU s",
            "cores busy with compressing",
            "machine busy CPU s",
        ],
        rows,
    )
    return (
        f"{text}\n\nSpeed-up 2 vs 1, one core each: **{_f(r.replica_speedup(True))}×**; "
        f"sharing both cores: **{_f(r.replica_speedup(False))}×** (one replica already uses "
        "every core it may)."
    )


def quality(r: Results) -> str:
    if not r.quality:
        return "Not run."
    seed_total = sum(row.results[SEED].bytes for row in r.quality)
    megapixels = sum(row.megapixels for row in r.quality)
    rows = []
    for name in (*SETTINGS, *FORMATS):
        present = [row for row in r.quality if name in row.results]
        if not present:
            continue
        total = sum(row.results[name].bytes for row in present)
        mean = sum(row.results[name].ssim for row in present) / len(present)
        below = len(r.below_seed(name))
        cpu = sum(row.results[name].cpu_ms for row in present) / megapixels
        rows.append(
            [
                name,
                f"{total:,}",
                f"{total / seed_total:.3f}",
                f"{mean:.4f}",
                f"{below} of {len(present)}",
                f"{cpu:,.1f}",
            ]
        )
    header = ["setting (quality 50)", "bytes", "÷ seed", "mean luma SSIM"]
    totals = _table([*header, "images below their seed SSIM", "CPU ms/MP"], rows)
    return "\n\n".join(
        [
            totals,
            "CPU ms/MP is the encoding alone for Pillow's settings, the whole `compress()` call "
            "(decode, prepare, encode) for ours.",
            "Per image, seed vs ours (JPEG, quality 50); chroma SSIM is the mean of the Cb and "
            "Cr planes' SSIM, shown so that what luma SSIM cannot see is on the table too:",
            _per_image(r),
            "The same comparison at other request qualities (ours must never fall below the "
            "seed's SSIM at the quality asked for):",
            _checks(r),
        ]
    )


def _per_image(r: Results) -> str:
    rows = []
    for row in r.quality:
        seed, ours = row.results[SEED], row.results[OURS]
        chroma = (
            f"{seed.chroma_ssim:.4f} → {ours.chroma_ssim:.4f}"
            if seed.chroma_ssim is not None and ours.chroma_ssim is not None
            else "(grey)"
        )
        rows.append(
            [
                row.name,
                f"{row.megapixels:.2f}",
                f"{row.source_bytes:,}",
                f"{seed.bytes:,}",
                f"{ours.bytes:,}",
                f"{ours.bytes / seed.bytes:.3f}",
                f"{seed.ssim:.4f}",
                f"{ours.ssim:.4f}",
                f"{ours.ssim - seed.ssim:+.4f}",
                chroma,
                "yes" if ours.kept_source else "",
            ]
        )
    header = ["image", "MP", "source bytes", "seed bytes", "ours bytes", "÷ seed"]
    header += ["seed SSIM", "ours SSIM", "Δ SSIM", "chroma SSIM seed → ours", "kept source"]
    return _table(header, rows)


def _checks(r: Results) -> str:
    qualities = sorted({q for row in r.quality for q in row.checks})
    if not qualities:
        return "Not run."
    rows = []
    for q in qualities:
        pairs = [row.checks[q] for row in r.quality if q in row.checks]
        seed = sum(p[0].bytes for p in pairs)
        ours = sum(p[1].bytes for p in pairs)
        below = sum(1 for p in pairs if p[1].ssim < p[0].ssim)
        margin = min(p[1].ssim - p[0].ssim for p in pairs)
        kept = sum(1 for p in pairs if p[1].kept_source)
        rows.append(
            [q, f"{seed:,}", f"{ours:,}", f"{ours / seed:.3f}", below, f"{margin:+.5f}", kept]
        )
    header = ["quality", "seed bytes", "ours bytes", "÷ seed", "images below seed SSIM"]
    return _table([*header, "smallest Δ SSIM", "kept sources"], rows)


def profile(r: Results) -> str:
    parts = []
    runs = [
        (r.profiled, "a second pipeline run of {} URLs"),
        (r.profiled_scale, "a second {:,}-URL fan-out (fetcher stopped)"),
    ]
    for result, what in runs:
        if result is None or not result.profile:
            continue
        parts += [
            f"py-spy (100 Hz) on every function process during {what.format(result.urls)}: the "
            'leaf frames where each process spent its active samples, then ("incl.") our own '
            "functions with the most samples under them.",
            "",
        ]
        for name, frames in sorted(result.profile.items()):
            rows = [[f"`{frame}`", f"{100 * share:.0f} %"] for frame, share in frames]
            parts += [f"**{name}**", "", _table(["frame", "share of samples"], rows), ""]
    return "\n".join(parts) if parts else "Not run (py-spy not installed, or --smoke)."


def render(r: Results, out: Path) -> str:
    figures = plots.draw(r, out.parent)
    smoke = (
        "\n> **Smoke run**: tiny inputs, figures meaningless; proves the benchmarks run.\n"
        if r.smoke
        else ""
    )
    durations = ", ".join(f"{k} {v:,.0f} s" for k, v in r.durations_s.items())
    sections = [
        f"# Benchmarks\n{smoke}\nGenerated by `{r.command}` on {r.started}; the whole run took "
        f"{r.total_s / 60:,.1f} min ({durations}). Every figure below was measured in this one "
        "run, side by side on the same machine; compare ratios, not absolute times, across runs.",
        f"## Goals\n\n{summary(r)}",
        *(f"![{title}]({path.name})" for title, path in figures),
        f"## Machine\n\n{machine(r)}\n\nImages: {r.images} distinct files from {r.corpus}.",
        COMMANDS,
        "## 1. Codec limit\n\nDecode + re-encode of every image in a loop, one process per core, "
        "nothing else running in the benchmark. `bare` is Pillow decode, the mode conversion JPEG "
        "needs and `save(quality=50)`; `compress` is our `compress()` as shipped.\n\n" + codec(r),
        "## 2. Pipeline throughput\n\nA CSV of corpus image URLs (served from memory by the "
        "benchmark on loopback) uploaded to the local stack (own ports, own RabbitMQ vhost), timed "
        "from the upload to the webhook.\n\n" + pipeline(r),
        "## 3. Hop latency\n\nSingle-image requests one after another on an otherwise idle stack. "
        "The timestamps are the product's own, as `GET /api/status` shows them (`timeline`): when "
        "each function started and finished with the image, and when the object store wrote each "
        "object (its bucket event's `eventTime`). A hop runs from an object or message being "
        "written to the next function starting on it; the work in between is listed after. The "
        "relay's delay comes from the benchmark's own tap queue.\n\n" + latency(r),
        "## 4. Scale\n\nA CSV of URLs uploaded with the fetcher stopped, so only the gateway's "
        "checks and ingest's fan-out are measured: time until ingest records the fan-out "
        "done, every fetch confirmed by the broker (polled in MongoDB; the fetches queued, "
        f"{FETCHES_PER_MESSAGE} to a message, are then counted). Ingest checks the whole CSV "
        "(one pass), saves its rows (a second), then reads them back and sends their fetches; "
        "the moment each pass was seen done (MongoDB polled every 0.05 s) is shown.\n\n" + scale(r),
        "### Compressor replicas\n\nWith the compressor stopped, a request's originals are fetched "
        "and their events queue up; then 1 (and in a second round 2) compressor processes are "
        "started with the stack's command and environment, first free to use every core, then each "
        "pinned to a core of its own (CPU affinity). Rate is taken between the first and "
        "the last compressed object.\n\n" + replicas(r),
        "## 9. Re-runs\n\nOne CSV of "
        f"{r.rerun.urls if r.rerun else 0:,} URLs, each serving its own bytes (a corpus JPEG made "
        "unique) with an ETag, uploaded three times one after another: as is, as is again, and "
        "with every tenth URL serving another image (another ETag).\n\n" + rerun(r),
        "## 10. Fairness\n\nA small request (tenant `bench`) timed upload → webhook on an idle "
        "stack, then again, on new URLs, while another tenant's big request runs (uploaded "
        "first; the small one follows once a tenth of it, at most 300 images, is finished). Every "
        "URL serves its own "
        "bytes, so nothing is revalidated or reused. The compressor's queue depth is a passive "
        "declare as the small request is uploaded.\n\n" + fairness(r),
        "## 5. Compression\n\nPer corpus image: bytes and luma SSIM (scikit-image, on Pillow's L) "
        "against the image as the compressor prepares it (upright, 8-bit, sRGB, on white). The "
        'seed is Pillow `save(format="JPEG", quality=50)` and nothing else.\n\n' + quality(r),
        "## 6. Perceptual quality\n\nEvery encoding judged by SSIMULACRA2 "
        "(compressor/ssimulacra2.py, shown by the tests to agree with the reference package "
        "within 0.003 points) against the image as the compressor prepares it.\n\n"
        + report_perceptual.section(r.perceptual, _table),
        "## Profile\n\n" + profile(r),
        FINDINGS.read_text().strip() if FINDINGS.exists() else "",
    ]
    return "\n\n".join(s for s in sections if s) + "\n"
