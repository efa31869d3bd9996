"""The perceptual section of docs/benchmarks.md (issue 12): goal rows and tables."""

from collections.abc import Callable, Sequence
from statistics import median

from bench.perceptual import (
    FORMATS,
    PER_IMAGE,
    SAME_PIXELS,
    WITH_WIDTHS,
    PerceptualResult,
    auto_hits,
    below_seed,
    bytes_ratio,
)
from compressor.levels import MARGIN_MOSAIC
from shared.rules import LEVELS

Table = Callable[[Sequence[str], Sequence[Sequence[object]]], str]
Met = Callable[[float | None, Callable[[float], bool]], str]

JPEG_MAX = "JPEG jpegli + mozjpeg rewrite (auto, max)"
WEBP_MAX = "WebP method 6 (max)"
AVIF_MAX = "AVIF speed 6, 4:4:4 (max)"


def goal_rows(p: PerceptualResult, met: Met) -> list[list[str]]:
    corpus = p.of("corpus")
    rows = []
    fixed = p.cpu.compress_ms["q50 balanced"] / p.cpu.bare_ms
    rows.append(
        [
            "12. fixed q50, balanced: compress() CPU per image ÷ bare codec",
            "≤ 1.5",
            f"{fixed:.2f}",
            met(fixed, lambda v: v <= 1.5),
        ]
    )
    for setting, target, label in (
        (JPEG_MAX, 0.80, "JPEG"),
        (WEBP_MAX, 0.60, "WebP"),
        (AVIF_MAX, 0.55, "AVIF"),
    ):
        ratio, below = bytes_ratio(corpus, setting), below_seed(corpus, setting)
        reached = ratio <= target and not below
        rows.append(
            [
                f"12. {label}, every image ≥ its seed-q50 SSIMULACRA2: bytes ÷ seed's",
                f"≤ {target:.2f}, none below",
                f"{ratio:.3f} ({setting}), {len(below)} below",
                met(1.0 if reached else 0.0, lambda v: v == 1.0),
            ]
        )
    hit = sum(auto_hits(p.images, f, level)[0] for f in FORMATS for level in LEVELS)
    total = sum(auto_hits(p.images, f, level)[1] for f in FORMATS for level in LEVELS)
    jxl = "JPEG XL effort 7 (max)"
    rows.append(
        [
            "15. JPEG XL, the same per-image rule: bytes ÷ seed's",
            "(context)",
            f"{bytes_ratio(corpus, jxl):.3f} ({jxl}), {len(below_seed(corpus, jxl))} below",
            "",
        ]
    )
    t = p.transcode
    rows.append(
        [
            "15. lossless JPEG → JPEG XL transcode: bytes ÷ the JPEGs'",
            "(context) bit-exact",
            f"{t.jxl_bytes / t.jpeg_bytes:.3f}, {t.exact} of {t.files} bit-exact",
            "",
        ]
    )
    share = hit / total if total else 0.0
    rows.append(
        [
            "12. auto: images at or above their level (corpus and both generated sets)",
            "100 %",
            f"{100 * share:.1f} % ({hit} of {total})",
            met(share, lambda v: v >= 1.0),
        ]
    )
    auto = p.cpu.compress_ms["auto:medium"] / p.cpu.bare_ms
    rows.append(
        [
            "12. auto:medium, JPEG: compress() CPU per image ÷ bare codec",
            "≤ 4",
            f"{auto:.2f}",
            met(auto, lambda v: v <= 4),
        ]
    )
    widths = p.cpu.compress_ms[WITH_WIDTHS] / p.cpu.compress_ms["q50 balanced"]
    rows.append(
        [
            f"15. {WITH_WIDTHS.split(', ')[1]}: compress() CPU ÷ one full-size encode (q50)",
            "≤ 1.6",
            f"{widths:.2f}",
            met(widths, lambda v: v <= 1.6),
        ]
    )
    plain, sized = p.cpu.wide_ms
    wide = sized / plain if plain else None
    rows.append(
        [
            "15. the same, on the corpus photos at least twice the widest variant (2,560 px)",
            "≤ 1.6",
            f"{wide:.2f}" if wide is not None else "–",
            met(wide, lambda v: v <= 1.6),
        ]
    )
    bare = p.peak_rss["bare codec"].peak
    fixed = max(m.peak for k, m in p.peak_rss.items() if k.startswith("q50")) / bare
    rows.append(
        [
            "12. any effort, q50: peak RSS of one compress() of the largest image ÷ bare codec's",
            "≤ 1 (no worse)",
            f"{fixed:.2f}",
            met(fixed, lambda v: v <= 1.0),
        ]
    )
    auto_peak = p.peak_rss["auto:medium"].peak / bare
    rows.append(
        [
            "12. auto:medium: the same peak RSS ÷ bare codec's",
            "(context)",
            f"{auto_peak:.2f}",
            "",
        ]
    )
    return rows


def section(p: PerceptualResult | None, table: Table) -> str:
    if p is None:
        return "Not run."
    corpus = p.of("corpus")
    bare = p.peak_rss["bare codec"].peak
    parts = [
        "Per-image rule on the corpus (each image capped at 4 MP): every image at the lowest "
        "quality whose SSIMULACRA2 is at least the seed's (Pillow quality 50) on that image, "
        "found by bisection with the metric on the whole image; bytes are totals over the "
        f"corpus. The seed's scores range {min(i.seed.score for i in corpus):.1f} to "
        f"{max(i.seed.score for i in corpus):.1f} (median "
        f"{median(i.seed.score for i in corpus):.1f}).",
        "",
        table(
            ["encoder", "bytes ÷ seed", "images below their seed score", "quality per image"],
            [
                [
                    setting,
                    f"{bytes_ratio(corpus, setting):.3f}",
                    len(below_seed(corpus, setting)),
                    " ".join(str(i.per_image[setting].quality) for i in corpus),
                ]
                for setting in PER_IMAGE
            ],
        ),
        "",
        f"`{SAME_PIXELS}` has exactly the seed's pixels (so its score); the other rows "
        "re-encode. Image order: " + ", ".join(i.name for i in corpus) + ".",
        "",
        "`quality=auto:<level>` through `compress()` (balanced effort), each output scored here "
        "against its source:",
        "",
    ]
    rows = []
    for image_set in ("corpus", "graphics", "noisy"):
        images = p.of(image_set)
        if not images:
            continue
        for output in FORMATS:
            for level, target in LEVELS.items():
                hit, total = auto_hits(images, output, level)
                graded = [i.auto[(output, level)] for i in images]
                seed_bytes = sum(i.seed.bytes for i in images)
                lowest = min(g.score for g in graded)
                rows.append(
                    [
                        image_set,
                        output,
                        f"auto:{level} ({target:g})",
                        f"{hit} of {total}",
                        f"{lowest:.1f}",
                        f"{median(g.score for g in graded):.1f}",
                        f"{sum(g.bytes for g in graded) / seed_bytes:.2f}",
                    ]
                )
    header = ["set", "format", "level", "at or above", "lowest score", "median score"]
    parts += [table([*header, "bytes ÷ seed q50 JPEG"], rows), ""]
    misses = [
        f"{i.set}/{i.name} {output} auto:{level} ({i.auto[(output, level)].score:.1f})"
        for i in p.images
        for output in FORMATS
        for level, target in LEVELS.items()
        if i.auto[(output, level)].score < target
    ]
    if misses:
        parts += ["Below their level: " + "; ".join(misses) + ".", ""]
    parts += [_margin_check(p), ""]
    t = p.transcode
    parts += [
        f"JPEG XL's lossless transcode of the corpus's {t.files} JPEGs (their metadata segments "
        f"cut out first): {t.jxl_bytes:,} bytes ÷ the JPEGs' {t.jpeg_bytes:,} = "
        f"{t.jxl_bytes / t.jpeg_bytes:.3f}; {t.exact} of {t.files} rebuilt the JPEG bit for "
        "bit. `format=jxl` keeps it instead of re-encoding a JPEG source whenever it is the "
        "smaller.",
        "",
    ]
    parts += [
        "CPU of `compress()` over the full-size corpus, one image after another in one process "
        "(single-threaded codecs; best of the rounds), ÷ the bare codec (Pillow decode, the mode "
        "JPEG needs, `save(quality=50)`) on the same files:",
        "",
        table(
            ["setting", "CPU ms (corpus)", "÷ bare"],
            [["bare codec", f"{p.cpu.bare_ms:,.0f}", "1.00"]]
            + [
                [setting, f"{ms:,.0f}", f"{ms / p.cpu.bare_ms:.2f}"]
                for setting, ms in p.cpu.compress_ms.items()
            ],
        ),
        "",
        "Peak RSS (VmHWM) of one `compress()` of the largest corpus image, each in a fresh "
        "process, and how far it rose above the process's size after its imports and reading "
        "the file (the image's own working memory); the bare codec is Pillow decode, `convert`, "
        "`save(quality=50)` in a process that imports Pillow only:",
        "",
        table(
            ["setting", "peak RSS MiB", "working MiB", "peak ÷ bare"],
            [
                [k, f"{m.peak:,.0f}", f"{m.working:,.0f}", f"{m.peak / bare:.2f}"]
                for k, m in p.peak_rss.items()
            ],
        ),
    ]
    return "\n".join(parts)


def _margin_check(p: PerceptualResult) -> str:
    """How far the tile mosaic's score ran above the whole image's, per format, against the
    margin the search adds for it (compressor/levels.py MARGIN_MOSAIC)."""
    lines = []
    for output in FORMATS:
        gaps = [
            (g.proxy - g.score, f"{i.set}/{i.name} auto:{level}")
            for i in p.images
            for (fmt, level), g in i.auto.items()
            if fmt == output and g.proxy is not None
        ]
        if gaps:
            worst, where = max(gaps)
            lines.append(
                f"{output}: {len(gaps)} outputs, median {median(g for g, _ in gaps):+.1f}, "
                f"largest {worst:+.1f} ({where}), margin {MARGIN_MOSAIC[output]:g}"
            )
    if not lines:
        return "No output was judged through a tile mosaic."
    return (
        "The tile mosaic's score minus the whole image's, on the outputs judged through a "
        "mosaic, against the margin the search adds to the level for one: " + "; ".join(lines) + "."
    )
