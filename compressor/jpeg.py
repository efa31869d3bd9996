"""JPEG output: our quantisation tables, the lossless mozjpeg pass, and keeping a source.

The tables start from the seed's (libjpeg's Annex K tables scaled by quality, what Pillow's
`quality=q` uses) and trade chroma for luma where the eye and luma SSIM allow it:
- the four lowest-frequency luma AC steps are 20 % finer (a little more luma accuracy in the
  smooth gradients SSIM's windows see);
- chroma steps are coarser: twice the seed's up to quality 60, 1.5× up to 75 (colour detail is
  stored at a quarter of the resolution anyway, 4:2:0, and the eye is least sensitive to it);
- above quality 75 the seed's own tables are used unchanged: there the chroma saving would
  cost luma SSIM on some corpus images.
Measured over the corpus at every quality 5-95: luma SSIM of each image ≥ the seed's, bytes
≈ 0.87× at quality 50 after the lossless pass (docs/benchmarks.md has the figures).
"""

import contextlib
import io

import mozjpeg_lossless_optimization as mozjpeg
from PIL import Image

# libjpeg's base tables (JPEG standard, Annex K), in natural (row-major) order.
_LUMA = (
    *(16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55),
    *(14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62),
    *(18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92),
    *(49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99),
)
_CHROMA = (
    *(17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99),
    *(24, 26, 56, 99, 99, 99, 99, 99, 47, 66, 99, 99, 99, 99, 99, 99),
    *(99,) * 32,
)
_LOW_AC = (1, 8, 2, 16)  # coefficients (0,1), (1,0), (0,2), (2,0)
LOW_AC_FACTOR = 0.8
TUNED_UP_TO = 75  # above this quality: the seed's tables
_ORIENTATION = 0x0112


def chroma_factor(quality: int) -> float:
    """How much coarser than the seed's our chroma steps are at `quality`."""
    return 2.0 if quality <= 60 else 1.5 if quality <= TUNED_UP_TO else 1.0


def tables(quality: int) -> list[list[int]] | None:
    """Luma and chroma tables for `quality`; None means the seed's own (Pillow's `quality`)."""
    if quality > TUNED_UP_TO:
        return None
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality  # libjpeg's scaling
    luma = [min(255, max(1, (v * scale + 50) // 100)) for v in _LUMA]
    for i in _LOW_AC:
        luma[i] = max(1, round(luma[i] * LOW_AC_FACTOR))
    chroma_scale = scale * chroma_factor(quality)
    chroma = [min(255, max(1, int(v * chroma_scale + 50) // 100)) for v in _CHROMA]
    return [luma, chroma]


def encode(im: Image.Image, quality: int) -> bytes:
    """Baseline JPEG with our tables, 4:2:0 (what the lossless pass then rewrites)."""
    qtables = tables(quality)
    out = io.BytesIO()
    if qtables is None:
        im.save(out, "JPEG", quality=quality)
    else:
        im.save(out, "JPEG", qtables=qtables[:1] if im.mode == "L" else qtables)
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
