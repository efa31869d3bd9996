"""JPEG sources: when one displays as it is, and keeping it (stripped) instead of a bigger
re-encoding."""

import contextlib

import mozjpeg_lossless_optimization as mozjpeg
from PIL import Image

_ORIENTATION = 0x0112


def displays_as_is(im: Image.Image) -> bool:
    """A decoded JPEG a browser shows as we would: 8-bit greyscale or YCbCr, no rotation.

    CMYK/YCCK must be converted (browsers differ), and a rotated one needs its EXIF block,
    which also holds what we strip (GPS, serials): such sources are always re-encoded.
    """
    if im.mode not in ("L", "RGB"):
        return False
    with contextlib.suppress(Exception):  # a damaged EXIF block: re-encode
        return bool(im.getexif().get(_ORIENTATION, 1) == 1)
    return False


def keep_source(data: bytes) -> bytes | None:
    """The source JPEG, losslessly rewritten without its metadata (its ICC profile stays, so it
    still displays the same), or None if mozjpeg cannot read it."""
    try:
        return bytes(mozjpeg.optimize(data, mozjpeg.COPY_MARKERS.ICC))
    except ValueError:
        return None
