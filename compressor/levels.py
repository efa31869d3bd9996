"""The perceptual search (`quality=auto:<level>`): the smallest encoding at a level.

`at_level` keeps every image at or above its level's SSIMULACRA2 score for a few encodes:
1. a proxy: an image up to WHOLE_PIXELS, or with a side under MOSAIC_SIDE, is scored whole
   (exact); a larger one through a mosaic of 96-px tiles taken on an even grid (about
   160,000 pixels, at least 3 x 3 tiles), each aligned to the 16-px block grid so the codec
   sees the blocks it sees in the whole image;
2. a search for the lowest quality whose proxy score reaches the level plus a margin (a
   calibrated first guess, a slope step, then regula falsi inside the bracket); only a
   quality *measured* at or above it is returned;
3. the margin: the metric's own error for whole images; for mosaics, room above the largest
   mosaic-minus-image gap `make bench` measures on every auto output it judges through a
   mosaic (docs/benchmarks.md, section 6), so the reference metric confirms the image;
4. when even the top quality misses (4:2:0 chroma caps 1-px coloured lines near 28 in every
   lossy codec), the same search with full-resolution colour (encoders.full_chroma).

It imports numpy and the metric (about 23 MiB per process), so compress() loads this module
only for `auto`: a fixed-quality compressor never pays for them.
"""

import io
import math

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from compressor import encoders
from compressor.encoders import Encoder
from compressor.search import Found
from compressor.ssimulacra2 import Reference
from shared.rules import Effort, Format

QMIN, QMAX = 5, 100  # the search's range (lower qualities never reached any level here)
WHOLE_PIXELS = 320_000
PROXY_PIXELS = 160_000
TILE = 96
# The metric pools six scales (five halvings) only when each side stays >= 8 px, i.e. is at
# least 241 px; with fewer scales ssimulacra2 walks its 108 weights consecutively, so a
# 5-scale mosaic of a 6-scale image scores a different formula (a 2:1 gradient's 6 x 2 mosaic
# read 67 where the image scored 50). Mosaics are therefore at least 3 tiles on each side.
MOSAIC_TILES = 3
MOSAIC_SIDE = MOSAIC_TILES * TILE
MARGIN_WHOLE = 0.05  # the fast metric vs the reference: within 0.003 on every test pair
# Points added to the level for a mosaic, per format: room (>= 1) above the largest
# mosaic-minus-image gap `make bench` measured on its auto outputs (2026-12-02: JPEG +4.8,
# WebP +4.1, AVIF +7.0, on a UI mock-up whose thin lines few tiles hold). One 8-point
# margin for all would have cost JPEG 5-17 % more bytes; each point costs AVIF most (its
# score flattens near the top: auto:high took 2.28 x the seed's bytes at 6.5, 2.68 at 8.0,
# 3.13 at 8.5).
MARGIN_MOSAIC: dict[Format, float] = {"jpeg": 6.5, "webp": 6.5, "avif": 8.0, "jxl": 8.0}
MAX_SCORES = 6  # metric evaluations per search stage
TOLERANCE = 2  # quality steps between the passing and the failing quality at the end
# First guess of the quality per format and level target, and the score's typical slope
# (points per quality step) near it: medians of the calibration (docs/benchmarks.md).
GUESS: dict[Format, dict[float, int]] = {
    "jpeg": {80.0: 84, 70.0: 65, 60.0: 48},
    "webp": {80.0: 85, 70.0: 70, 60.0: 52},
    "avif": {80.0: 70, 70.0: 55, 60.0: 45},
    "jxl": {80.0: 78, 70.0: 64, 60.0: 52},
}
SLOPE: dict[Format, float] = {"jpeg": 0.6, "webp": 0.55, "avif": 0.45, "jxl": 0.65}


def at_level(
    im: Image.Image, output: Format, effort: Effort, target: float, top: int = QMAX
) -> Found:
    """The lowest quality (within TOLERANCE) whose encoding scores at least `target`."""
    proxy, whole = make_proxy(im)
    reference = Reference(np.asarray(proxy))
    goal = target + (MARGIN_WHOLE if whole else MARGIN_MOSAIC[output])
    search, write = encoders.perceptual(output, effort, im.mode == "L")
    guess = _guess(output, target)
    quality, seen = _lowest_passing(proxy, reference, search, goal, guess, output, top)
    encodes, full_chroma = len(seen), False
    if seen[quality] < goal:  # 4:2:0 chroma caps this image's score: keep full colour
        write = encoders.full_chroma(output, effort)
        quality, seen = _lowest_passing(proxy, reference, write, goal, guess, output, top)
        encodes, full_chroma = encodes + len(seen), True
    score = seen[quality]
    data = write(im, quality)
    return Found(data, quality, score, whole, score >= goal, full_chroma, encodes + 1)


def make_proxy(im: Image.Image) -> tuple[Image.Image, bool]:
    """(what is scored, whether it is the whole image): a mosaic of tiles for a big image."""
    w, h = im.size
    if w * h <= WHOLE_PIXELS or w < MOSAIC_SIDE or h < MOSAIC_SIDE:
        return im, True
    tiles = PROXY_PIXELS // (TILE * TILE)
    across = max(MOSAIC_TILES, min(w // TILE, round(math.sqrt(tiles * w / h))))
    down = max(MOSAIC_TILES, min(h // TILE, tiles // across))
    mosaic = Image.new(im.mode, (across * TILE, down * TILE))
    right, bottom = (w - TILE) // 16 * 16, (h - TILE) // 16 * 16
    for j in range(down):
        for i in range(across):
            x = min(max(0, int((i + 0.5) * w / across - TILE / 2) // 16 * 16), right)
            y = min(max(0, int((j + 0.5) * h / down - TILE / 2) // 16 * 16), bottom)
            mosaic.paste(im.crop((x, y, x + TILE, y + TILE)), (i * TILE, j * TILE))
    return mosaic, False


def _guess(output: Format, target: float) -> int:
    """The calibrated first quality for the level nearest `target`."""
    nearest = min(GUESS[output], key=lambda level: abs(level - target))
    return GUESS[output][nearest]


def _lowest_passing(
    proxy: Image.Image,
    reference: Reference,
    encode: Encoder,
    goal: float,
    guess: int,
    output: Format,
    top: int,
) -> tuple[int, dict[int, float]]:
    """(quality, {quality: score}): the lowest measured quality scoring at least `goal`, or
    `top` (measured) when none does within MAX_SCORES."""
    seen: dict[int, float] = {}

    def score(q: int) -> float:
        if q not in seen:
            seen[q] = reference.score(_pixels(encode(proxy, q), proxy.mode))
        return seen[q]

    if not encoders.has_quality_scale(encode):
        score(top)
        return top, seen
    low, high = QMIN - 1, None  # low: fails (or assumed to); high: passes
    q = min(guess, top)
    while len(seen) < MAX_SCORES:
        value = score(q)
        if value >= goal:
            high = q
        else:
            low = q
        if (high is not None and high - low <= TOLERANCE) or (high is None and q == top):
            break
        q = _next_probe(q, value, goal, low, high, seen, SLOPE[output], top)
        if q in seen:
            break
    if high is None:
        score(top)
        return top, seen
    return high, seen


def _next_probe(
    q: int,
    value: float,
    goal: float,
    low: int,
    high: int | None,
    seen: dict[int, float],
    slope: float,
    top: int,
) -> int:
    """Regula falsi between the bracket's measured ends, else a step along the slope; always
    strictly inside the bracket, or the bracket's middle when that makes no progress."""
    if high is not None and low in seen and seen[high] > seen[low]:
        step = low + (goal - seen[low]) * (high - low) / (seen[high] - seen[low])
        probe = math.ceil(step)
    else:
        step = (goal - value) / slope
        probe = math.ceil(q + step) if step > 0 else math.floor(q + step)
    upper = high - 1 if high is not None else top
    probe = min(max(probe, low + 1), upper)
    if probe in seen:
        probe = (low + (high if high is not None else top + 1)) // 2
    return probe


def _pixels(data: bytes, mode: str) -> NDArray[np.uint8]:
    """An encoding decoded as the metric compares it with the source (8-bit L or RGB)."""
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert(mode))
