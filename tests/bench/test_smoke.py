"""The benchmarks' smoke run: every benchmark on tiny inputs, on its own local stack.

Proves `make bench` works end to end (servers, stack, measurements, report, plots); it
asserts nothing about the figures: timings are for docs/benchmarks.md, never for tests.
"""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SECTIONS = (
    "## Goals",
    "## Machine",
    "## 1. Codec limit",
    "## 2. Pipeline throughput",
    "## 3. Hop latency",
    "## 4. Scale",
    "### Compressor replicas",
    "## 10. Fairness",
    "## 5. Compression",
    "## 6. Perceptual quality",
)


@pytest.mark.bench
@pytest.mark.timeout(300)
def test_smoke_run_writes_a_report_with_every_section(tmp_path: Path) -> None:
    out = tmp_path / "benchmarks.md"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    report = out.read_text()
    for section in SECTIONS:
        assert section in report, section
    assert "Not run" not in report.split("## Profile")[0]
    assert (tmp_path / "bench-throughput.png").stat().st_size > 0
    assert (tmp_path / "bench-compression.png").stat().st_size > 0
