"""The searches' shared result, and the size search: the best quality within a ceiling.

`within_bytes` finds the highest quality whose output fits a ceiling: bisection from an
estimate (sizes grow about 3.5 % per quality step), about 5 encodes. The perceptual search
(`quality=auto:<level>`) is compressor/levels.py; both return a `Found`.
"""

import math
from dataclasses import dataclass

from PIL import Image

from compressor.encoders import Encoder

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
