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


# APPn segments a decoder needs: JFIF (APP0), the ICC profile (APP2) and Adobe's colour
# transform flag (APP14). Everything else before the scan (EXIF, XMP, IPTC, comments, vendor
# blocks) is metadata.
_KEPT_APPS = {0xE0: b"JFIF\0", 0xE2: b"ICC_PROFILE\0", 0xEE: b"Adobe"}


def without_metadata(data: bytes) -> bytes | None:
    """The JPEG with its metadata segments cut out, byte for byte otherwise (the scan data is
    not touched); None if its marker structure is broken before the first scan."""
    if data[:2] != b"\xff\xd8":
        return None
    out, at = [data[:2]], 2
    while at + 4 <= len(data):
        if data[at] != 0xFF:
            return None
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker == 0xDA:  # start of scan: the rest is entropy-coded data and the EOI
            out.append(data[at:])
            return b"".join(out)
        length = int.from_bytes(data[at + 2 : at + 4], "big")
        segment = data[at : at + 2 + length]
        if length < 2 or len(segment) < 2 + length:
            return None
        is_app = 0xE0 <= marker <= 0xEF or marker == 0xFE
        if not is_app or segment[4:].startswith(_KEPT_APPS.get(marker, b"\0\0\0\0\0\0\0\0")):
            out.append(segment)
        at += 2 + length
    return None
