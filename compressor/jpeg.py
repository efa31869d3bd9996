"""JPEG output: the seed's coefficients in fewer bytes, and keeping a source that would grow.

The pixels are exactly those of the seed's encoding (Pillow `quality=q`: libjpeg's Annex K
tables scaled by quality, 4:2:0); mozjpeg then rewrites the file losslessly with optimal
Huffman tables and progressive scans. So every image's SSIM equals the seed's at every
quality, in about 0.89× its bytes at quality 50 (docs/benchmarks.md has the figures, and why
lossy table tuning, which reaches 0.87× at quality 50, was not adopted).
"""

import contextlib
import io

import mozjpeg_lossless_optimization as mozjpeg
from PIL import Image

_ORIENTATION = 0x0112


def encode(im: Image.Image, quality: int) -> bytes:
    """The seed's encoding: libjpeg's tables scaled by `quality`, 4:2:0, baseline."""
    out = io.BytesIO()
    im.save(out, "JPEG", quality=quality)
    return out.getvalue()


def optimize(jpeg: bytes) -> bytes:
    """mozjpeg's lossless rewrite: optimal Huffman tables and progressive scans, same pixels,
    about 2 % fewer bytes than Pillow's `optimize=True, progressive=True`; no metadata."""
    return bytes(mozjpeg.optimize(jpeg))


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
