"""`python -m bench [--smoke] [--only NAMES] [--out docs/benchmarks.md]`

Runs the benchmarks in one process, side by side on this machine, and writes the report with
its plots. `--smoke` runs a tiny version of every benchmark (seconds, figures meaningless):
CI runs it to prove the benchmarks work; nothing about timings is asserted anywhere.
"""

import argparse
import asyncio
import os
import pickle
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import (
    codec,
    corpus,
    fairness,
    latency,
    machine,
    page,
    perceptual,
    pipeline,
    quality,
    replicas,
    rerun,
    scale,
    stackrun,
)
from bench.report import render
from bench.results import Results
from bench.servers import serve

ROOT = Path(__file__).resolve().parents[1]
NAMES = (
    "codec",
    "quality",
    "perceptual",
    "pipeline",
    "profile",
    "latency",
    "replicas",
    "rerun",
    "fairness",
    "scale",
)
STACK_NAMES = NAMES[3:]
SAVED = ROOT / ".stack" / "bench-results.pickle"  # the last full run, for --render


@dataclass(frozen=True)
class Sizes:
    codec_rounds: int
    pipeline_urls: int
    profiled_urls: int
    latency_requests: int
    replica_images: int
    scale_urls: tuple[int, ...]  # one fan-out of each size, the first profiled
    rerun_urls: int
    fairness_small: int  # images of the small request timed beside a big one
    fairness_big: int  # images of the big one (another tenant's)
    fairness_million: int  # … and of the one not run to its end (issue 13)
    quality_max_mp: float  # the compression benchmark skips larger images (smoke only)
    check_qualities: tuple[int, ...]  # ours vs the seed's at these request qualities too
    generated_sets: bool  # the perceptual benchmark also scores the generated image sets
    cpu_rounds: int  # the perceptual benchmark's CPU rounds (best of)


FULL = Sizes(
    6,
    306,
    102,
    34,
    68,
    (100_000, 1_000_000),
    1_000,
    5,
    3_000,
    1_000_000,
    1e9,
    (30, 70, 85),
    True,
    2,
)
SMOKE = Sizes(1, 10, 5, 2, 4, (500, 1_000), 20, 2, 20, 50, 0.5, (85,), False, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny inputs: proves it runs")
    parser.add_argument("--only", default=",".join(NAMES), help=f"comma-separated: {NAMES}")
    parser.add_argument("--out", type=Path, default=None, help="report path")
    parser.add_argument(
        "--render", action="store_true", help=f"only rewrite the report from {SAVED} (no runs)"
    )
    parser.add_argument(
        "--scale-urls",
        type=_counts,
        default=None,
        help="URLs in the scale benchmark's CSVs, comma-separated, one fan-out each (default "
        f"{_text(FULL.scale_urls)}; smoke {_text(SMOKE.scale_urls)})",
    )
    args = parser.parse_args()
    only = {name.strip() for name in args.only.split(",") if name.strip()}
    if unknown := only - set(NAMES):
        parser.error(f"unknown benchmarks {sorted(unknown)}; choose from {NAMES}")
    out: Path = args.out or (
        Path(tempfile.mkdtemp(prefix="bench-smoke-")) / "benchmarks.md"
        if args.smoke
        else ROOT / "docs" / "benchmarks.md"
    )
    if args.render:
        results = pickle.loads(SAVED.read_bytes())
        out.write_text(render(results, out))
        print(f"wrote {out} from {SAVED}")
        return
    sizes = SMOKE if args.smoke else FULL
    if args.scale_urls is not None:
        sizes = replace(sizes, scale_urls=args.scale_urls)
    # The smoke run uses the repository's five sample images only: small and always present.
    folders = (corpus.SAMPLES,) if args.smoke else (corpus.CORPUS, corpus.SAMPLES)
    images = corpus.load(folders)
    if not images:
        raise SystemExit("no images found")
    results = Results(
        smoke=args.smoke,
        command=" ".join(["python -m bench", *sys.argv[1:]]),
        machine=machine.describe(),
        corpus=corpus.source_description(folders),
        images=len(images),
        started=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )
    start = time.monotonic()
    run = _Timer(results)
    if "codec" in only:
        for loop in codec.LOOPS:
            results.codec[loop] = run(f"codec {loop}", codec.run, images, loop, sizes.codec_rounds)
    if "quality" in only:
        small = [image for image in images if image.megapixels <= sizes.quality_max_mp]
        results.quality = run("quality", quality.run, small, sizes.check_qualities)
    if "perceptual" in only:
        small = [image for image in images if image.megapixels <= sizes.quality_max_mp]
        results.perceptual = run(
            "perceptual",
            perceptual.run,
            small,
            sizes.generated_sets,
            not args.smoke,
            sizes.cpu_rounds,
            ROOT / ".stack" / "bench-perceptual",
        )
    if only & set(STACK_NAMES):
        _stack_benchmarks(results, run, only, sizes, images, ROOT / ".stack" / "bench-profile")
    results.total_s = time.monotonic() - start
    out.parent.mkdir(parents=True, exist_ok=True)
    if not args.smoke:
        SAVED.parent.mkdir(parents=True, exist_ok=True)
        SAVED.write_bytes(pickle.dumps(results))
    out.write_text(render(results, out))
    print(f"wrote {out} in {results.total_s:,.0f} s")


def _stack_benchmarks(
    results: Results,
    run: "_Timer",
    only: set[str],
    sizes: Sizes,
    images: list[corpus.CorpusImage],
    profile_dir: Path,
) -> None:
    with stackrun.local_stack() as stack, serve(images) as servers:
        if "pipeline" in only:
            results.pipeline = run(
                "pipeline", asyncio.run, pipeline.run(stack, servers, images, sizes.pipeline_urls)
            )
        if "profile" in only and not results.smoke:
            results.profiled = run(
                "profile",
                asyncio.run,
                pipeline.run(
                    stack, servers, images, sizes.profiled_urls, profile_dir, first=10_000
                ),
            )
        if "latency" in only:
            results.latency = run(
                "latency",
                asyncio.run,
                latency.run(stack, servers, images, sizes.latency_requests),
            )
        if "replicas" in only:
            results.replicas = run(
                "replicas",
                asyncio.run,
                replicas.run(stack, servers, images, sizes.replica_images),
            )
        if "rerun" in only:
            results.rerun = run(
                "rerun", asyncio.run, rerun.run(stack, servers, images, sizes.rerun_urls)
            )
        if "fairness" in only:
            results.fairness = run(
                "fairness",
                asyncio.run,
                fairness.run(stack, servers, images, sizes.fairness_small, sizes.fairness_big),
            )
            small, million = sizes.fairness_small, sizes.fairness_million
            results.fairness_million = run(
                f"fairness beside {million:,}",
                asyncio.run,
                fairness.run(stack, servers, images, small, million, 3_000_000, to_the_end=False),
            )
        if "scale" in only:  # last: it stops the fetcher and leaves huge requests behind
            for count in sizes.scale_urls:
                results.scales.append(
                    run(f"scale {count:,}", asyncio.run, scale.run(stack, servers, count))
                )
            biggest = results.scales[-1]
            results.page = run(
                "web page", asyncio.run, page.run(stack, biggest.request_id, biggest.urls)
            )
            if "profile" in only and not results.smoke:
                # A fan-out again for its profile alone: py-spy's sampling costs the processes
                # it watches about a core, so the timed runs above go without it.
                count, where = sizes.scale_urls[0], profile_dir / "scale"
                results.profiled_scale = run(
                    f"scale {count:,} profiled",
                    asyncio.run,
                    scale.run(stack, servers, count, where),
                )


def _counts(text: str) -> tuple[int, ...]:
    try:
        counts = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of counts: {text!r}") from None
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"counts must be positive: {text!r}")
    return counts


def _text(counts: tuple[int, ...]) -> str:
    return ",".join(str(n) for n in counts)


class _Timer:
    """Runs one benchmark, recording its wall time and the machine's load after it."""

    def __init__(self, results: Results) -> None:
        self.results = results

    def __call__(self, name: str, function: Callable[..., Any], *args: Any) -> Any:
        print(f"bench: {name} …", file=sys.stderr, flush=True)
        start = time.monotonic()
        value = function(*args)
        self.results.durations_s[name] = time.monotonic() - start
        self.results.load_after[name] = ", ".join(f"{v:.2f}" for v in os.getloadavg())
        return value


if __name__ == "__main__":
    main()
