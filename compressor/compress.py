"""Image bytes in, JPEG bytes out: the pure part of the compressor (no I/O).

Each step is one helper: decode safely, turn upright, flatten to 8-bit L or RGB, convert to
sRGB, encode. The output carries no metadata: no EXIF/GPS, and no ICC profile (sRGB is what
browsers assume without one).
"""

import contextlib
import io
import struct
import warnings
from dataclasses import dataclass

from PIL import Image, ImageCms, ImageOps

from shared.errors import ImageError

# Only these decoders ever see user data; Pillow's others (EPS runs Ghostscript) stay off.
ALLOWED_FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF")
# What Pillow's decoders raise on hostile or damaged input.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, struct.error)
_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


@dataclass(frozen=True)
class Compressed:
    data: bytes
    width: int
    height: int
    source_format: str  # as Pillow names it: "JPEG", "PNG", ...
    content_type: str = "image/jpeg"


def compress(data: bytes, quality: int, *, max_pixels: int) -> Compressed:
    """Re-encode an image as an upright, metadata-free sRGB (or greyscale) JPEG.

    Raises ImageError, with a reason fit to show the user, for data that is not an allowed
    image, is damaged, or has more than max_pixels pixels (checked before decoding).
    """
    if not 1 <= quality <= 95:
        raise ValueError(f"quality must be 1-95, got {quality}")
    im = _decode(data, max_pixels)
    source_format, icc = str(im.format), im.info.get("icc_profile")
    _make_upright(im)
    im = _to_srgb(_flatten(im), icc)
    return Compressed(_encode(im, quality), im.width, im.height, source_format)


def _decode(data: bytes, max_pixels: int) -> Image.Image:
    """Open with the allowlist, refuse too many pixels before decoding them, then decode."""
    # Pillow's own bomb check warns (or raises) while opening; make both an exception here.
    with warnings.catch_warnings(action="error", category=Image.DecompressionBombWarning):
        try:
            im = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageError(f"image too large: {exc}") from None
        except _DECODE_ERRORS:
            raise ImageError(f"not a supported image ({_guess_what(data)})") from None
        width, height = im.size
        if width * height > max_pixels:
            raise ImageError(
                f"image too large: {width}\N{MULTIPLICATION SIGN}{height} pixels"
                f" exceeds the limit of {max_pixels}"
            )
        try:
            im.load()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageError(f"image too large: {exc}") from None
        except _DECODE_ERRORS as exc:
            raise ImageError(f"truncated or corrupt image: {exc}") from None
    return im


def _guess_what(data: bytes) -> str:
    """Name what the data looks like instead, for the error message."""
    head = data[:1024].lstrip().lower()
    if not head:
        return "the file is empty"
    if head.startswith((b"<!doctype html", b"<html")):
        return "got an HTML page"
    if head.startswith(b"<") and b"<svg" in head:
        return "SVG is not supported"
    if head.startswith(b"%!ps") or data.startswith(b"\xc5\xd0\xd3\xc6"):
        return "PostScript/EPS is not supported"
    return "expected JPEG, PNG, GIF, WebP, BMP or TIFF"


def _make_upright(im: Image.Image) -> None:
    """Apply the EXIF orientation to the pixels; a broken EXIF block is ignored."""
    with contextlib.suppress(*_DECODE_ERRORS):
        ImageOps.exif_transpose(im, in_place=True)


def _flatten(im: Image.Image) -> Image.Image:
    """Any mode → 8-bit L, RGB or CMYK, with transparency composited on white."""
    if im.mode in ("I", "F") or im.mode.startswith("I;16"):
        return _to_8bit(im)
    if im.mode == "CMYK":
        return im
    grey = im.mode in ("1", "L", "LA", "La")
    if im.mode in ("LA", "La", "RGBA", "RGBa", "PA") or "transparency" in im.info:
        rgba = im.convert("RGBA")
        mode = "L" if grey else "RGB"
        background = Image.new(mode, im.size, "white")
        background.paste(rgba.convert(mode), mask=rgba.getchannel("A"))
        return background
    try:
        return im.convert("L" if grey else "RGB")
    except ValueError:
        raise ImageError(f"unsupported colour mode {im.mode}") from None


def _to_8bit(im: Image.Image) -> Image.Image:
    """Scale 16-bit greyscale to 0-255 (Pillow would clip); float 0-1 likewise."""
    if im.mode == "F":
        top = im.getextrema()[1]  # one band: (min, max)
        scale = 255.0 if isinstance(top, float) and top <= 1.0 else 1.0
        return im.point(lambda v: v * scale).convert("L")
    return im.convert("I").point(lambda v: v / 257 + 0.5).convert("L")


def _to_srgb(im: Image.Image, icc: bytes | None) -> Image.Image:
    """Convert from the embedded ICC profile to sRGB; a broken profile is ignored."""
    if icc:
        try:
            profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            converted = ImageCms.profileToProfile(im, profile, _SRGB, outputMode="RGB")
        except (ImageCms.PyCMSError, OSError, ValueError):
            converted = None
        if converted is not None:
            return converted.convert("L") if im.mode == "L" else converted
    return im.convert("RGB") if im.mode == "CMYK" else im


def _encode(im: Image.Image, quality: int) -> bytes:
    """Progressive, optimised JPEG: about 9% fewer bytes than plain at identical quality."""
    im.info.clear()  # Pillow would copy a source comment (COM marker) into the output
    out = io.BytesIO()
    im.save(out, "JPEG", quality=quality, optimize=True, progressive=True)
    return out.getvalue()
