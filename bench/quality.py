"""Benchmark 5, compression: bytes and luma SSIM per corpus image, the seed's encoding vs ours.

The reference is the image as the compressor prepares it for encoding (upright, 8-bit, sRGB,
on white); SSIM is scikit-image's on luma (Pillow's L). The seed's encoding is Pillow
`save(format="JPEG", quality=50)` and nothing else. Other settings are measured alongside so
the report can show where ours sits.
"""

import io
import multiprocessing
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import cast

import mozjpeg_lossless_optimization as mozjpeg
import numpy as np
from PIL import Image
from skimage.metrics import structural_similarity

from bench import candidates
from bench.corpus import CorpusImage
from compressor.compress import compress, decode, prepare, supported_formats
from shared.rules import Format

QUALITY = 50
MAX_PIXELS = 64_000_000
SEED = "seed: Pillow q50"
OURS = "ours: compress() JPEG"


def _save(im: Image.Image, fmt: str, **params: object) -> bytes:
    out = io.BytesIO()
    im.save(out, fmt, **params)
    return out.getvalue()


# Encoder settings applied to the prepared image: name → encode function.
SETTINGS: dict[str, Callable[[Image.Image], bytes]] = {
    SEED: lambda im: _save(im, "JPEG", quality=QUALITY),
    "Pillow q50 optimize+progressive": lambda im: _save(
        im, "JPEG", quality=QUALITY, optimize=True, progressive=True
    ),
    "Pillow q50 + mozjpeg lossless": lambda im: mozjpeg.optimize(
        _save(im, "JPEG", quality=QUALITY)
    ),
    "tuned tables + mozjpeg lossless (not adopted)": lambda im: candidates.tuned(im, QUALITY),
    "Pillow q45 (seed, lower quality)": lambda im: _save(im, "JPEG", quality=45),
    "Pillow q55 (seed, higher quality)": lambda im: _save(im, "JPEG", quality=55),
}
# Our compress() itself, per output format: these go through the whole function.
FORMATS = {OURS: "jpeg", "ours: compress() WebP": "webp", "ours: compress() AVIF": "avif"}


@dataclass(frozen=True)
class Measured:
    bytes: int
    ssim: float
    cpu_ms: float  # encoding only for SETTINGS; the whole compress() call for FORMATS
    kept_source: bool = False
    chroma_ssim: float | None = None  # mean of Cb and Cr SSIM (seed and ours only)


@dataclass(frozen=True)
class ImageRow:
    name: str
    megapixels: float
    source_bytes: int
    results: dict[str, Measured]
    # quality → (the seed's encoding, ours) at that quality, for the check across qualities.
    checks: dict[int, tuple[Measured, Measured]]


def _luma(im: Image.Image) -> np.ndarray:
    return np.asarray(im if im.mode == "L" else im.convert("L"))


def _structural(a: np.ndarray, b: np.ndarray) -> float:
    return float(structural_similarity(a, b, data_range=255))  # type: ignore[no-untyped-call]


def _ssim(reference: np.ndarray, data: bytes) -> float:
    with Image.open(io.BytesIO(data)) as out:
        return _structural(reference, _luma(out))


def _chroma_ssim(prepared: Image.Image, data: bytes) -> float | None:
    """Mean SSIM of the Cb and Cr planes (full resolution), None for greyscale."""
    if prepared.mode == "L":
        return None
    with Image.open(io.BytesIO(data)) as out:
        ours = out.convert("YCbCr").split()[1:]
    theirs = prepared.convert("YCbCr").split()[1:]
    return (
        sum(_structural(np.asarray(a), np.asarray(b)) for a, b in zip(theirs, ours, strict=True))
        / 2
    )


def _compress(data: bytes, quality: int, fmt: str) -> tuple[bytes, float, bool]:
    """compress() as the compressor calls it; returns (output, CPU ms, kept_source)."""
    start = time.process_time()
    done = compress(data, quality, max_pixels=MAX_PIXELS, format=cast(Format, fmt))
    return done.data, 1000 * (time.process_time() - start), done.kept_source


def measure(image: CorpusImage, check_qualities: tuple[int, ...] = ()) -> ImageRow:
    im, icc = decode(image.data, MAX_PIXELS)
    prepared = prepare(im, icc)
    prepared.info.clear()
    reference = _luma(prepared)
    results: dict[str, Measured] = {}
    for name, encode in SETTINGS.items():
        start = time.process_time()
        data = encode(prepared)
        cpu = 1000 * (time.process_time() - start)
        chroma = _chroma_ssim(prepared, data) if name == SEED else None
        results[name] = Measured(len(data), _ssim(reference, data), cpu, False, chroma)
    for name, fmt in FORMATS.items():
        if fmt in supported_formats():
            data, cpu, kept = _compress(image.data, QUALITY, fmt)
            chroma = _chroma_ssim(prepared, data) if name == OURS else None
            results[name] = Measured(len(data), _ssim(reference, data), cpu, kept, chroma)
    checks: dict[int, tuple[Measured, Measured]] = {}
    for quality in check_qualities:
        seed = _save(prepared, "JPEG", quality=quality)
        data, cpu, kept = _compress(image.data, quality, "jpeg")
        checks[quality] = (
            Measured(len(seed), _ssim(reference, seed), 0.0),
            Measured(len(data), _ssim(reference, data), cpu, kept),
        )
    return ImageRow(image.name, image.megapixels, len(image.data), results, checks)


def run(
    images: list[CorpusImage], check_qualities: tuple[int, ...], processes: int | None = None
) -> list[ImageRow]:
    """Measure every image, largest first, one process per core."""
    ordered = sorted(images, key=lambda image: -image.megapixels)
    work = partial(measure, check_qualities=check_qualities)
    with multiprocessing.get_context("spawn").Pool(processes or os.cpu_count() or 1) as pool:
        rows = pool.map(work, ordered, chunksize=1)
    return sorted(rows, key=lambda row: row.name)
