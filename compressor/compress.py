"""Image bytes in, compressed image bytes out: the pure part of the compressor (no I/O).

Each step is one helper: decode safely, turn upright, flatten to 8-bit L or RGB on a
background, convert to sRGB, encode. The output carries no metadata: no EXIF/GPS, and no ICC
profile (sRGB is what browsers assume without one).

JPEG (the default) has exactly the seed's pixels (Pillow `quality=q`) in fewer bytes: a
lossless mozjpeg pass (compressor/jpeg.py), 0.89× the seed's bytes at quality 50 with every
image's SSIM equal to the seed's (docs/benchmarks.md). A JPEG source that re-encoding would
not make smaller is kept instead, losslessly stripped of its metadata (`Compressed.kept_source`).
"""

import contextlib
import io
import struct
import warnings
from dataclasses import dataclass

from PIL import Image, ImageCms, ImageOps, features

from compressor import jpeg
from shared.errors import ImageError
from shared.rules import QUALITY, Format

# Only these decoders ever see user data; Pillow's others (EPS runs Ghostscript) stay off.
ALLOWED_FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF")
# What Pillow's decoders raise on hostile or damaged input.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, struct.error)
_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))

# Output format (shared/rules.py FORMAT) → (Pillow's name, content type, file extension).
FORMATS: dict[Format, tuple[str, str, str]] = {
    "jpeg": ("JPEG", "image/jpeg", "jpg"),
    "webp": ("WEBP", "image/webp", "webp"),
    "avif": ("AVIF", "image/avif", "avif"),
}
WHITE = (255, 255, 255)
WEBP_METHOD = 4  # libwebp's default effort (0-6)
# libavif 0 (slowest) to 10: at 8 the whole compress() costs ~115 ms/MP, where encoding alone
# at 6 costs ~314 ms/MP (docs/benchmarks.md, ../shared/notes/performance.md).
AVIF_SPEED = 8


def supported_formats() -> tuple[Format, ...]:
    """The output formats this machine's Pillow can write (AVIF needs Pillow built with it)."""
    return tuple(f for f in FORMATS if f != "avif" or features.check("avif"))


@dataclass(frozen=True)
class Compressed:
    data: bytes
    width: int
    height: int
    source_format: str  # as Pillow names it: "JPEG", "PNG", ...
    content_type: str = "image/jpeg"
    format: Format = "jpeg"
    quality: int = 0  # the request's quality (a kept source keeps its own tables)
    # True when the output is the source JPEG itself, losslessly rewritten without its
    # metadata, because re-encoding would not have made it smaller.
    kept_source: bool = False

    @property
    def extension(self) -> str:
        return FORMATS[self.format][2]


# Our own pixel limit (settings.max_image_pixels) is checked after the header is read and
# before any pixel is decoded; Pillow's fixed limit would otherwise fire first, in open(), and
# name its own number instead of the service's.
Image.MAX_IMAGE_PIXELS = None


def compress(
    data: bytes,
    quality: int,
    *,
    max_pixels: int,
    format: Format = "jpeg",
    background: tuple[int, int, int] = WHITE,
) -> Compressed:
    """Re-encode an image as an upright, metadata-free sRGB (or greyscale) image.

    Transparent pixels are composited on `background`; animations keep their first frame.
    Raises ImageError, with a reason fit to show the user, for data that is not an allowed
    image, is damaged, or has more than max_pixels pixels (checked before decoding);
    ValueError for a quality outside QUALITY's range or a format this machine cannot write.
    """
    QUALITY.check(quality)
    if format not in supported_formats():
        raise ValueError(f"output format must be one of {supported_formats()}, got {format!r}")
    im = _decode(data, max_pixels)
    source_format, icc = str(im.format), im.info.get("icc_profile")
    keepable = source_format == "JPEG" and format == "jpeg" and jpeg.displays_as_is(im)
    im = prepare(im, icc, background)
    width, height = im.size
    out = _encode(im, quality, format)
    del im  # free the pixels before mozjpeg allocates its coefficient buffers
    if format == "jpeg":
        out = jpeg.optimize(out)
    kept = None
    if keepable and len(out) >= len(data):
        kept = jpeg.keep_source(data)
        if kept is not None and len(kept) >= len(out):
            kept = None
    return Compressed(
        out if kept is None else kept,
        width,
        height,
        source_format,
        FORMATS[format][1],
        format,
        quality,
        kept_source=kept is not None,
    )


def prepare(
    im: Image.Image, icc: bytes | None, background: tuple[int, int, int] = WHITE
) -> Image.Image:
    """The decoded image as it will be encoded: upright, 8-bit L or RGB, sRGB, no alpha."""
    _make_upright(im)
    return _to_srgb(_flatten(im, background), icc)


def pixel_count(data: bytes) -> int:
    """Width × height from the image's header, without decoding it; 0 if it cannot be read
    (compress() then says why)."""
    try:
        with Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS) as im:
            width, height = im.size
    except (*_DECODE_ERRORS, Image.DecompressionBombError):
        return 0
    return width * height


def decode(data: bytes, max_pixels: int) -> tuple[Image.Image, bytes | None]:
    """The image and its embedded ICC profile, as compress() reads them (for benchmarks)."""
    im = _decode(data, max_pixels)
    return im, im.info.get("icc_profile")


def _decode(data: bytes, max_pixels: int) -> Image.Image:
    """Open with the allowlist, refuse too many pixels before decoding them, then decode."""
    # Pillow's own bomb check warns (or raises) while opening; make both an exception here.
    # With MAX_IMAGE_PIXELS at None (below) it stays quiet and our limit, checked before any
    # pixel is decoded, names MAX_IMAGE_PIXELS; kept as a second line of defence.
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


def _flatten(im: Image.Image, background: tuple[int, int, int]) -> Image.Image:
    """Any mode → 8-bit L, RGB or CMYK, with transparency composited on `background`."""
    if im.mode in ("I", "F") or im.mode.startswith("I;16"):
        return _to_8bit(im)
    if im.mode == "CMYK":
        return im
    grey = im.mode in ("1", "L", "LA", "La")
    if im.mode in ("LA", "La", "RGBA", "RGBa", "PA") or "transparency" in im.info:
        rgba = im.convert("RGBA")
        mode = "L" if grey else "RGB"
        backdrop = Image.new("RGB", im.size, background).convert(mode)
        backdrop.paste(rgba.convert(mode), mask=rgba.getchannel("A"))
        return backdrop
    target = "L" if grey else "RGB"
    try:
        return im if im.mode == target else im.convert(target)  # no copy of what is ready
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
        in_place = im.mode == "RGB"  # no second copy of the pixels (a 16 MP photo: 64 MiB)
        try:
            profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            converted = ImageCms.profileToProfile(
                im, profile, _SRGB, outputMode="RGB", inPlace=in_place
            )
        except (ImageCms.PyCMSError, OSError, ValueError):
            return im.convert("RGB") if im.mode == "CMYK" else im
        if in_place:
            return im
        if converted is not None:
            return converted.convert("L") if im.mode == "L" else converted
    return im.convert("RGB") if im.mode == "CMYK" else im


def _encode(im: Image.Image, quality: int, format: str) -> bytes:
    im.info.clear()  # Pillow would copy a source comment (COM marker) or profile into the output
    if format == "jpeg":
        return jpeg.encode(im, quality)
    out = io.BytesIO()
    if format == "webp":
        im.save(out, "WEBP", quality=quality, method=WEBP_METHOD)
    else:
        im.save(out, "AVIF", quality=quality, speed=AVIF_SPEED)
    return out.getvalue()
