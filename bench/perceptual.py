"""Benchmark 6, perceptual quality (issue 12): every encoding judged by SSIMULACRA2.

The score is compressor/ssimulacra2.py's, against the image as the compressor prepares it
(upright, 8-bit, sRGB, flattened); tests/unit/compressor/test_ssimulacra2.py shows it agrees
with the reference package (PyPI ssimulacra2 0.3.0) within 0.003 points. Corpus images are
capped at 4 MP (as the issue's figures are), the generated sets (tests/imagesets.py) are used
as made. Three measurements:
- the per-image rule: for each encoder, every image at the lowest quality whose score is at
  least the seed's (Pillow quality 50) on that image; total bytes ÷ the seed's;
- `quality=auto:<level>` through compress() itself: the share of images at or above the
  level's score, bytes ÷ the seed's, on the corpus and both generated sets, per format;
- CPU: compress() per full-size corpus image ÷ the bare codec (Pillow decode + save q50), for
  fixed quality 50 at each effort and for each auto level; and peak memory of one compress()
  of the largest corpus image per effort (one process each).
"""

import io
import multiprocessing
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

import numpy as np
import pillow_jxl
from PIL import Image

from bench.corpus import CORPUS, CorpusImage
from compressor import encoders
from compressor.compress import compress
from compressor.encoders import Encoder
from compressor.jpeg import without_metadata
from compressor.ssimulacra2 import Reference
from shared.records import Sizes
from shared.rules import AUTO_LEVELS, LEVELS, Effort, Format, Level, Quality
from tests import imagesets

CAP = 4_000_000
MAX_PIXELS = 64_000_000
SEED_QUALITY = 50


def _auto_jpeg(effort: Effort) -> Encoder:
    """The encoder auto uses for JPEG at `effort` (jpegli; libjpeg for greyscale)."""
    return lambda im, q: encoders.perceptual("jpeg", effort, im.mode == "L")[1](im, q)


PER_IMAGE: dict[str, Encoder] = {
    "JPEG, ours at fixed q50 (balanced: the seed's pixels)": encoders.fixed("jpeg", "balanced"),
    "JPEG jpegli (auto, balanced)": _auto_jpeg("balanced"),
    "JPEG jpegli + mozjpeg rewrite (auto, max)": _auto_jpeg("max"),
    "WebP method 5 (balanced)": encoders.fixed("webp", "balanced"),
    "WebP method 6 (max)": encoders.fixed("webp", "max"),
    "AVIF speed 8 (balanced)": encoders.fixed("avif", "balanced"),
    "AVIF speed 6, 4:4:4 (max)": encoders.fixed("avif", "max"),
    "JPEG XL effort 5 (balanced)": encoders.fixed("jxl", "balanced"),
    "JPEG XL effort 7 (max)": encoders.fixed("jxl", "max"),
}
SAME_PIXELS = next(iter(PER_IMAGE))  # its score is the seed's: no search needed
CURVE_QUALITIES = (30, 40, 50, 60, 70, 80, 90)
CURVES: dict[str, Encoder] = {
    "seed: Pillow/libjpeg": encoders.fixed("jpeg", "fast"),
    "jpegli": _auto_jpeg("balanced"),
    "jpegli + mozjpeg": _auto_jpeg("max"),
    "WebP m5": encoders.fixed("webp", "balanced"),
    "AVIF s8": encoders.fixed("avif", "balanced"),
}
FORMATS: tuple[Format, ...] = ("jpeg", "webp", "avif", "jxl")


@dataclass(frozen=True)
class Graded:
    """One encoding: its size and score."""

    bytes: int
    score: float
    quality: int = 0
    proxy: float | None = None  # the compressor's own score, when it judged a tile mosaic


@dataclass
class ImageResult:
    set: str  # "corpus", "graphics", "noisy"
    name: str
    megapixels: float
    seed: Graded
    per_image: dict[str, Graded] = field(default_factory=dict)  # corpus only
    # (format, level) → the auto output's size and score (measured here, not reported)
    auto: dict[tuple[str, str], Graded] = field(default_factory=dict)
    curve: dict[str, list[Graded]] = field(default_factory=dict)  # corpus only


@dataclass
class CpuResult:
    bare_ms: float  # corpus total, full size
    compress_ms: dict[str, float]  # setting ("q50 fast", "auto:medium", …) → corpus total
    # (q50 balanced, WITH_WIDTHS) over the corpus photos at least twice the widest variant
    wide_ms: tuple[float, float] = (0.0, 0.0)


@dataclass(frozen=True)
class Transcode:
    """libjxl's lossless transcode of the corpus's JPEGs (metadata segments cut out first)."""

    files: int
    jpeg_bytes: int
    jxl_bytes: int
    exact: int  # how many rebuilt the JPEG bit for bit


@dataclass(frozen=True)
class Memory:
    """One process's peak RSS (MiB), and how far above its imports and input it rose."""

    peak: float
    working: float


@dataclass
class PerceptualResult:
    images: list[ImageResult]
    cpu: CpuResult
    peak_rss: dict[str, Memory]  # setting (and the bare codec) → one process, largest image
    transcode: Transcode

    def of(self, image_set: str) -> list[ImageResult]:
        return [i for i in self.images if i.set == image_set]


def _png(im: Image.Image) -> bytes:
    out = io.BytesIO()
    im.save(out, "PNG", compress_level=1)
    return out.getvalue()


def _grade(reference: Reference, mode: str, data: bytes, quality: int = 0) -> Graded:
    with Image.open(io.BytesIO(data)) as out:
        pixels = np.asarray(out.convert(mode))
    return Graded(len(data), reference.score(pixels), quality)


def _lowest_reaching(
    im: Image.Image, reference: Reference, encode: Encoder, target: float
) -> Graded:
    """The lowest quality whose score is at least `target` (bisection; score rises with
    quality nearly monotonically, and every returned quality was measured at or above)."""
    low, high = 0, 100  # low fails (0: none tried), high passes (100 assumed)
    found: dict[int, Graded] = {}
    while high - low > 1:
        q = (low + high) // 2
        found[q] = _grade(reference, im.mode, encode(im, q), q)
        if found[q].score >= target:
            high = q
        else:
            low = q
    if high not in found:
        found[high] = _grade(reference, im.mode, encode(im, high), high)
    return found[high]


def measure(item: tuple[str, str, bytes], curves: bool) -> ImageResult:
    """All the measurements of one prepared image (given as PNG bytes)."""
    image_set, name, png = item
    with Image.open(io.BytesIO(png)) as opened:
        im = opened.copy()
    reference = Reference(np.asarray(im))
    seed = _grade(reference, im.mode, encoders.fixed("jpeg", "fast")(im, SEED_QUALITY), 50)
    result = ImageResult(image_set, name, im.width * im.height / 1e6, seed)
    if image_set == "corpus":
        for setting, encode in PER_IMAGE.items():
            if setting == SAME_PIXELS:
                data = encode(im, SEED_QUALITY)
                result.per_image[setting] = Graded(len(data), seed.score, SEED_QUALITY)
            else:
                result.per_image[setting] = _lowest_reaching(im, reference, encode, seed.score)
        if curves:
            for setting, encode in CURVES.items():
                result.curve[setting] = [
                    _grade(reference, im.mode, encode(im, q), q) for q in CURVE_QUALITIES
                ]
    for output in FORMATS:
        for quality, level in AUTO_LEVELS.items():
            done = compress(png, quality, max_pixels=MAX_PIXELS, format=output)
            graded = _grade(reference, im.mode, done.data, done.quality)
            proxy = None if done.score_whole else done.score
            result.auto[(output, level)] = replace(graded, proxy=proxy)
    return result


def _inputs(corpus: list[CorpusImage], generated: bool) -> list[tuple[str, str, bytes]]:
    items = []
    for image in corpus:
        items.append(("corpus", image.name, _png(imagesets.prepare(image.data, CAP))))
    if generated:
        for name, im in imagesets.graphics().items():
            items.append(("graphics", name, _png(im)))
        for name, im in imagesets.noisy(CORPUS).items():
            items.append(("noisy", name, _png(im)))
    return items


def _cpu_ms(work: Callable[[], object], rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.process_time()
        work()
        best = min(best, time.process_time() - start)
    return 1000 * best


def _bare(data: bytes) -> None:
    """The bare codec: Pillow decode, the mode JPEG needs, save(quality=50)."""
    with Image.open(io.BytesIO(data)) as im:
        im.seek(0)
        flat = im.convert("L" if im.mode in ("L", "I;16", "I") else "RGB")
        flat.save(io.BytesIO(), "JPEG", quality=SEED_QUALITY)


SRCSET_WIDTHS = (320, 640, 1280)
WITH_WIDTHS = "q50 balanced, widths " + ",".join(map(str, SRCSET_WIDTHS))
SETTINGS_CPU: dict[str, tuple[Quality, Effort, Sizes]] = {
    "q50 fast": (50, "fast", Sizes()),
    "q50 balanced": (50, "balanced", Sizes()),
    "q50 max": (50, "max", Sizes()),
    **{quality: (quality, "balanced", Sizes()) for quality in AUTO_LEVELS},
    WITH_WIDTHS: (50, "balanced", Sizes(widths=SRCSET_WIDTHS)),  # issue 15's srcset request
}


def cpu(corpus: list[CorpusImage], rounds: int) -> CpuResult:
    """Full-size corpus images, one after another in this process (single-threaded codecs)."""
    bare = sum(_cpu_ms(partial(_bare, image.data), rounds) for image in corpus)
    totals: dict[str, float] = {}
    for setting, (quality, effort, size) in SETTINGS_CPU.items():
        work = partial(compress, quality=quality, max_pixels=MAX_PIXELS, effort=effort, size=size)
        totals[setting] = sum(_cpu_ms(partial(work, i.data), rounds) for i in corpus)
    wide = [i for i in corpus if i.size[0] >= 2 * max(SRCSET_WIDTHS)]
    wide_ms = tuple(
        sum(
            _cpu_ms(partial(compress, i.data, 50, max_pixels=MAX_PIXELS, size=size), rounds)
            for i in wide
        )
        for size in (Sizes(), Sizes(widths=SRCSET_WIDTHS))
    )
    return CpuResult(bare, totals, (wide_ms[0], wide_ms[1]))


def peak_rss(image: CorpusImage, folder: Path) -> dict[str, Memory]:
    """One compress() of `image` per setting, and the bare codec, each in a fresh process."""
    path = folder / "largest-image"
    path.write_bytes(image.data)
    # (imports, the work): the bare codec as _bare() does it, and compress() per setting
    calls = {
        "bare codec": (
            "import io; from PIL import Image",
            "im = Image.open(io.BytesIO(data)); im.convert('L' if im.mode in ('L', 'I;16', 'I') "
            f"else 'RGB').save(io.BytesIO(), 'JPEG', quality={SEED_QUALITY})",
        )
    }
    for setting, (quality, effort, _) in SETTINGS_CPU.items():
        if setting not in ("auto:low", "auto:high", WITH_WIDTHS):  # auto:medium's code path
            calls[setting] = (
                "from compressor.compress import compress",
                f"compress(data, {quality!r}, max_pixels={MAX_PIXELS}, effort={effort!r})",
            )
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec from the forked parent (the
    # benchmark itself), VmHWM belongs to the new program's memory alone. The resident size
    # after the imports is read before the image: the difference is what one image takes.
    status = "re.search(r'{}:\\s+(\\d+)', open('/proc/self/status').read())[1]"
    peaks = {}
    for setting, (head, body) in calls.items():
        program = (
            f"import re, sys; {head}; data = open(sys.argv[1], 'rb').read(); "
            f"print({status.format('VmRSS')}); {body}; print({status.format('VmHWM')})"
        )
        done = subprocess.run(
            [sys.executable, "-c", program, str(path)],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parents[1],
        )
        before, peak = (int(line) / 1024 for line in done.stdout.split())
        peaks[setting] = Memory(peak, peak - before)
    return peaks


def transcode(corpus: list[CorpusImage]) -> Transcode:
    """Every corpus JPEG libjxl can take (8-bit greyscale or YCbCr), transcoded and rebuilt."""
    files = jpeg_bytes = jxl_bytes = exact = 0
    for image in corpus:
        with Image.open(io.BytesIO(image.data)) as im:
            if im.format != "JPEG" or im.mode not in ("L", "RGB"):
                continue
            size, mode = im.size, im.mode
        stripped = without_metadata(image.data)
        if stripped is None:
            continue
        jxl = encoders.jpeg_to_jxl(stripped, *size, mode)
        rebuilt, _, back, *_ = pillow_jxl.Decoder(num_threads=1)(jxl)
        files, jpeg_bytes, jxl_bytes = files + 1, jpeg_bytes + len(stripped), jxl_bytes + len(jxl)
        exact += bool(rebuilt and back == stripped)
    return Transcode(files, jpeg_bytes, jxl_bytes, exact)


def run(
    corpus: list[CorpusImage],
    generated: bool,
    curves: bool,
    cpu_rounds: int,
    scratch: Path,
    processes: int | None = None,
) -> PerceptualResult:
    items = sorted(_inputs(corpus, generated), key=lambda item: -len(item[2]))
    with multiprocessing.get_context("spawn").Pool(processes or os.cpu_count() or 1) as pool:
        images = pool.map(partial(measure, curves=curves), items, chunksize=1)
    images.sort(key=lambda r: (r.set, r.name))
    largest = max(corpus, key=lambda image: image.megapixels)
    scratch.mkdir(parents=True, exist_ok=True)
    return PerceptualResult(
        images, cpu(corpus, cpu_rounds), peak_rss(largest, scratch), transcode(corpus)
    )


def bytes_ratio(images: list[ImageResult], setting: str) -> float:
    return sum(i.per_image[setting].bytes for i in images) / sum(i.seed.bytes for i in images)


def below_seed(images: list[ImageResult], setting: str) -> list[str]:
    return [i.name for i in images if i.per_image[setting].score < i.seed.score]


def auto_hits(images: list[ImageResult], output: str, level: Level) -> tuple[int, int]:
    target = LEVELS[level]
    graded = [i.auto[(output, level)] for i in images]
    return sum(g.score >= target for g in graded), len(graded)
