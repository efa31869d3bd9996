"""The per-image searches: the smallest encoding at a perceptual level, the best within a size.

`at_level` keeps every image at or above its level's SSIMULACRA2 score for a few encodes:
1. a proxy: an image up to WHOLE_PIXELS is scored whole (exact); a larger one through a
   mosaic of 96-px tiles taken on an even grid (about 160,000 pixels), each aligned to the
   16-px block grid so the codec sees the blocks it sees in the whole image;
2. a search for the lowest quality whose proxy score reaches the level plus a margin (a
   calibrated first guess, a slope step, then regula falsi inside the bracket); only a
   quality *measured* at or above it is returned;
3. the margin: the metric's own error for whole images; for mosaics, the largest
   proxy-minus-image gap measured in calibration (+5.4 over 45 images × 5 qualities × 3
   formats) plus room, so the reference metric confirms the whole image (docs/benchmarks.md);
4. when even the top quality misses (4:2:0 chroma caps 1-px coloured lines near 28 in every
   lossy codec), the same search with full-resolution colour (encoders.full_chroma).

`within_bytes` finds the highest quality whose output fits a ceiling: bisection from an
estimate (sizes grow about 3.5 % per quality step), about 5 encodes.
"""

import io
import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from compressor import encoders
from compressor.encoders import Encoder
from compressor.ssimulacra2 import Reference
from shared.rules import Effort, Format

QMIN, QMAX = 5, 100  # the search's range (lower qualities never reached any level here)
WHOLE_PIXELS = 320_000
PROXY_PIXELS = 160_000
TILE = 96
MARGIN_WHOLE = 0.05  # the fast metric vs the reference: within 0.003 on every test pair
MARGIN_MOSAIC = 6.5
MAX_SCORES = 6  # metric evaluations per search stage
TOLERANCE = 2  # quality steps between the passing and the failing quality at the end
# First guess of the quality per format and level target, and the score's typical slope
# (points per quality step) near it: medians of the calibration (docs/benchmarks.md).
GUESS: dict[Format, dict[float, int]] = {
    "jpeg": {80.0: 84, 70.0: 65, 60.0: 48},
    "webp": {80.0: 85, 70.0: 70, 60.0: 52},
    "avif": {80.0: 70, 70.0: 55, 60.0: 45},
}
SLOPE: dict[Format, float] = {"jpeg": 0.6, "webp": 0.55, "avif": 0.45}
SIZE_GROWTH = 0.035  # d ln(bytes) / d quality, typical for JPEG, WebP and AVIF in 30..90


@dataclass(frozen=True)
class Found:
    """The encoding a search settled on."""

    data: bytes
    quality: int
    score: float | None = None  # SSIMULACRA2 measured (on the proxy, see `whole`)
    whole: bool = True  # the score is the whole image's (else the mosaic's)
    reached: bool = True  # the level was reached (else `data` is the closest it came)
    full_chroma: bool = False
    encodes: int = 0


class TooLarge(ValueError):
    """No quality fits the ceiling; `smallest` is the smallest output reached."""

    def __init__(self, limit: int, smallest: int, quality: int) -> None:
        super().__init__(
            f"no encoding fits max_bytes={limit}: the smallest, at quality {quality}, is "
            f"{smallest} bytes"
        )
        self.smallest = smallest


def at_level(
    im: Image.Image, output: Format, effort: Effort, target: float, top: int = QMAX
) -> Found:
    """The lowest quality (within TOLERANCE) whose encoding scores at least `target`."""
    proxy, whole = make_proxy(im)
    reference = Reference(np.asarray(proxy))
    goal = target + (MARGIN_WHOLE if whole else MARGIN_MOSAIC)
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


def within_bytes(im: Image.Image, encode: Encoder, limit: int, top: int) -> Found:
    """The highest quality in 1..top whose output is at most `limit` bytes."""
    files: dict[int, bytes] = {}

    def size(q: int) -> int:
        if q not in files:
            files[q] = encode(im, q)
        return len(files[q])

    if size(top) <= limit:
        return Found(files[top], top, encodes=1)
    low, high = 0, top  # `low` fits (0: none known yet), `high` does not
    guess = round(top + math.log(limit / size(top)) / SIZE_GROWTH)
    while high - low > 1:
        q = min(max(guess, low + 1), high - 1)
        if size(q) <= limit:
            low = q
        else:
            high = q
        guess = (low + high) // 2
        if low in files and high - low > 2:  # interpolate ln(size) between the bracket's ends
            a, b = math.log(len(files[low])), math.log(len(files[high]))
            if b > a:
                guess = round(low + (math.log(limit) - a) / (b - a) * (high - low))
    if low == 0:
        raise TooLarge(limit, size(1), 1)
    return Found(files[low], low, encodes=len(files))


def make_proxy(im: Image.Image) -> tuple[Image.Image, bool]:
    """(what is scored, whether it is the whole image): a mosaic of tiles for a big image."""
    w, h = im.size
    if w * h <= WHOLE_PIXELS or w < 2 * TILE or h < 2 * TILE:
        return im, True
    tiles = PROXY_PIXELS // (TILE * TILE)
    across = max(1, min(w // TILE, round(math.sqrt(tiles * w / h))))
    down = max(1, min(h // TILE, tiles // across))
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
