"""The report's figures (PNG, matplotlib without a display)."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

from bench import procs
from bench.perceptual import CURVE_QUALITIES, PerceptualResult
from bench.quality import FORMATS, OURS, SEED, SETTINGS
from bench.results import Results
from shared.rules import LEVELS

THROUGHPUT = "bench-throughput.png"
COMPRESSION = "bench-compression.png"
CPU = "bench-cpu.png"
PERCEPTUAL = "bench-perceptual.png"


def draw(r: Results, folder: Path) -> list[tuple[str, Path]]:
    """Draw what this run has data for; returns (title, path) of each figure written."""
    folder.mkdir(parents=True, exist_ok=True)
    drawn = []
    if r.codec or r.pipeline or r.replicas:
        drawn.append(("Throughput: codec limit, pipeline, replicas", _throughput(r, folder)))
    if r.pipeline is not None and "compress" in r.codec:
        drawn.append(("Machine CPU per image in the pipeline run", _cpu(r, folder)))
    if r.quality:
        drawn.append(("Bytes vs luma SSIM per encoder setting", _compression(r, folder)))
    if r.perceptual is not None and any(i.curve for i in r.perceptual.images):
        drawn.append(
            (
                "Bytes vs SSIMULACRA2 per encoder, and each image's score: fixed q50 vs auto",
                _perceptual(r.perceptual, folder),
            )
        )
    return drawn


def _perceptual(p: PerceptualResult, folder: Path) -> Path:
    """Left: each encoder's bytes ÷ the seed's against its mean score, quality by quality.
    Right: every corpus image's score at fixed quality 50 and at each auto level (JPEG)."""
    corpus = [i for i in p.of("corpus") if i.curve]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 5.5), gridspec_kw={"wspace": 0.3})
    seed_total = sum(i.seed.bytes for i in corpus)
    for setting in corpus[0].curve:
        points = [
            (
                sum(i.curve[setting][k].bytes for i in corpus) / seed_total,
                sum(i.curve[setting][k].score for i in corpus) / len(corpus),
            )
            for k in range(len(CURVE_QUALITIES))
        ]
        left.plot(*zip(*points, strict=True), marker="o", markersize=3, label=setting)
    left.scatter([1.0], [sum(i.seed.score for i in corpus) / len(corpus)], color="black", zorder=5)
    left.annotate(" seed q50", (1.0, sum(i.seed.score for i in corpus) / len(corpus)), fontsize=8)
    left.set_xlabel(f"total bytes ÷ seed's (qualities {', '.join(map(str, CURVE_QUALITIES))})")
    left.set_ylabel("mean SSIMULACRA2 over the corpus")
    left.set_title("Bytes against perceptual quality, per encoder")
    left.legend(fontsize=8)
    columns = {"fixed q50": [i.seed.score for i in corpus]}
    for level in LEVELS:
        columns[f"auto:{level}"] = [i.auto[("jpeg", level)].score for i in corpus]
    for x, scores in enumerate(columns.values()):
        right.scatter([x] * len(scores), scores, s=18, alpha=0.7)
    for level, target in LEVELS.items():
        right.axhline(target, color="grey", linestyle=":", linewidth=1)
        right.text(len(columns) - 0.5, target, f" {level} {target:g}", fontsize=7, va="center")
    right.set_xticks(range(len(columns)), list(columns))
    right.set_ylabel("SSIMULACRA2 per corpus image (JPEG)")
    right.set_title("One number for every image, or one level")
    path = folder / PERCEPTUAL
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def _cpu(r: Results, folder: Path) -> Path:
    """One stacked bar: where the machine's CPU went per image, codec work first."""
    assert r.pipeline is not None
    per_image = {k: 1000 * v / r.pipeline.urls for k, v in r.pipeline.cpu_s.items()}
    codec = min(r.codec["compress"].cpu_ms_per_image, per_image.get("compressor", 0.0))
    parts = [
        ("compress() (codec work)", codec, "#2f6db5"),
        ("compressor: GET, PUT, events", per_image.get("compressor", 0.0) - codec, "#7fa7d8"),
        (
            "fetcher, notifier, ingest, gateway",
            sum(per_image.get(n, 0.0) for n in procs.OURS if n != "compressor"),
            "#b8cde8",
        ),
        ("SeaweedFS", per_image.get("seaweed", 0.0), "#e07b39"),
        ("SecantusDB", per_image.get("secantusdb", 0.0), "#f0a36e"),
        ("RabbitMQ", per_image.get("rabbitmq", 0.0), "#f6c9a6"),
        ("event relay", per_image.get("relay", 0.0), "#fbe3d0"),
    ]
    accounted = sum(value for _, value, _ in parts)
    parts.append(
        ("others on the machine", per_image.get(procs.MACHINE, 0.0) - accounted, "#cccccc")
    )
    fig, ax = plt.subplots(figsize=(9, 2.6))
    left = 0.0
    for label, value, colour in parts:
        if value <= 0:
            continue
        ax.barh([0], [value], left=left, color=colour, label=f"{label} {value:.0f}")
        left += value
    ax.axvline(r.codec["bare"].cpu_ms_per_image, color="black", linestyle=":", linewidth=1)
    ax.text(r.codec["bare"].cpu_ms_per_image, 0.45, " bare codec", fontsize=8)
    ax.set_yticks([])
    ax.set_xlabel("machine CPU ms per image (pipeline run, corpus mix)")
    ax.legend(fontsize=7, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.45))
    path = folder / CPU
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def _throughput(r: Results, folder: Path) -> Path:
    labels: list[str] = []
    values: list[float] = []
    colours: list[str] = []
    for loop, result in r.codec.items():
        labels.append(f"codec limit\n({loop}, {result.processes} proc)")
        values.append(result.images_per_s)
        colours.append("#9aa5b1")
    if r.pipeline is not None:
        labels.append(f"pipeline\n({r.pipeline.urls} URLs)")
        values.append(r.pipeline.images_per_s)
        colours.append("#2f6db5")
    for run in r.replicas:
        cores = "1 core each" if run.pinned else "shared cores"
        labels.append(f"compressor ×{run.replicas}\n({cores})")
        values.append(run.images_per_s)
        colours.append("#e07b39")
    fig, ax = plt.subplots(figsize=(8, 4))
    bars = ax.bar(labels, values, color=colours)
    ax.bar_label(bars, fmt="%.1f")
    ax.set_ylabel("images/s (corpus mix)")
    ax.set_title("Throughput on this machine, one run")
    ax.tick_params(axis="x", labelsize=8)
    fig.tight_layout()
    path = folder / THROUGHPUT
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _compression(r: Results, folder: Path) -> Path:
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 6.5), gridspec_kw={"wspace": 0.45})
    seed_total = sum(row.results[SEED].bytes for row in r.quality)
    for name in (*SETTINGS, *FORMATS):
        rows = [row for row in r.quality if name in row.results]
        if not rows:
            continue
        ratio = sum(row.results[name].bytes for row in rows) / seed_total
        mean = sum(row.results[name].ssim for row in rows) / len(rows)
        marker = "*" if name == OURS else "o"
        left.scatter([ratio], [mean], s=140 if name == OURS else 50, marker=marker, label=name)
    curve = [n for n in SETTINGS if n == SEED or n.startswith("Pillow q4") or "q55" in n]
    points = sorted(
        (
            sum(row.results[n].bytes for row in r.quality) / seed_total,
            sum(row.results[n].ssim for row in r.quality) / len(r.quality),
        )
        for n in curve
    )
    left.plot(*zip(*points, strict=True), color="grey", linewidth=1, zorder=0)
    left.axvline(0.88, color="grey", linestyle=":", linewidth=1)
    left.set_xlabel("total bytes ÷ seed's")
    left.set_ylabel("mean luma SSIM")
    left.set_title("Each encoder setting over the corpus")
    left.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)
    names = [row.name.rsplit(".", 1)[0][:22] for row in r.quality]
    ratios = [row.results[OURS].bytes / row.results[SEED].bytes for row in r.quality]
    deltas = [row.results[OURS].ssim - row.results[SEED].ssim for row in r.quality]
    colours = ["#2f6db5" if d >= 0 else "#c0392b" for d in deltas]
    right.barh(names, ratios, color=colours)
    right.axvline(1.0, color="grey", linewidth=1)
    right.set_xlabel("ours ÷ seed bytes (blue: SSIM ≥ seed's, red: below)")
    right.set_title("Per image, JPEG at quality 50")
    right.tick_params(axis="y", labelsize=7)
    path = folder / COMPRESSION
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path
