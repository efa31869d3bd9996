"""Output sizes (issue 15): the main output within max_width x max_height, and the variants.

Never upscaled: a bound larger than the image leaves it as it is, and a variant width at or
above the main output's is not made (the main output already serves it in a srcset). The
pixels are scaled down once per size, from the next larger one, with Pillow's `reduce` by
whole factors (an area average) to within twice the target, then Lanczos (`reducing_gap`).
A JPEG source bigger than twice what the largest output needs is decoded at 1/2, 1/4 or 1/8
scale by libjpeg (`draft`), never below that size.
"""

import struct

from PIL import Image

from shared.records import Sizes

# reduce() by whole factors until the image is within this factor of its target, then
# Lanczos. Against plain Lanczos, on 320/640/1280 variants of corpus photos, SSIMULACRA2 was
# at least 96.1 with 3.0 (Pillow's "indistinguishable"), 94.8 with 2.0 for 0.8 x the time,
# 91.2 with 1.1 for 0.7 x.
REDUCING_GAP = 2.0
# EXIF orientations that turn the stored image a quarter (its width is the upright height).
_QUARTER_TURNS = (5, 6, 7, 8)


def fit(width: int, height: int, sizes: Sizes) -> tuple[int, int]:
    """The main output's size: within the bounds, aspect kept, never larger than the image."""
    scale = 1.0
    if sizes.max_width is not None:
        scale = min(scale, sizes.max_width / width)
    if sizes.max_height is not None:
        scale = min(scale, sizes.max_height / height)
    if scale >= 1.0:
        return width, height
    return max(1, round(width * scale)), max(1, round(height * scale))


def variant_sizes(width: int, height: int, widths: tuple[int, ...]) -> list[tuple[int, int]]:
    """The variants of a `width` x `height` output: each width below it, aspect kept."""
    return [(w, max(1, round(height * w / width))) for w in widths if w < width]


def target(im: Image.Image, sizes: Sizes) -> tuple[int, int] | None:
    """The upright size of the main output when the bounds make it smaller than the opened
    (not yet loaded) image; None when it keeps its own size."""
    if sizes.max_width is None and sizes.max_height is None:
        return None
    turned = _turned(im)
    upright = (im.height, im.width) if turned else im.size
    smaller = fit(*upright, sizes)
    return None if smaller == upright else smaller


def draft(im: Image.Image, upright: tuple[int, int]) -> None:
    """Let libjpeg decode a JPEG at 1/2, 1/4 or 1/8 scale, never below `upright` (the output's
    size once turned upright); before the pixels are loaded. Other formats are left alone."""
    if im.format == "JPEG":
        im.draft(im.mode, (upright[1], upright[0]) if _turned(im) else upright)


def _turned(im: Image.Image) -> bool:
    """Whether EXIF orientation turns the stored image a quarter (a broken EXIF: no)."""
    try:
        return im.getexif().get(0x0112) in _QUARTER_TURNS
    except (OSError, SyntaxError, ValueError, TypeError, struct.error):
        return False


def scale_down(im: Image.Image, size: tuple[int, int]) -> Image.Image:
    """`im` at `size` (no larger than it), or `im` itself when it is that size already."""
    if im.size == size:
        return im
    return im.resize(size, Image.Resampling.LANCZOS, reducing_gap=REDUCING_GAP)
