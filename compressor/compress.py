"""Image bytes in, compressed image bytes out: the pure part of the compressor (no I/O).

Each step is one helper: decode safely, turn upright, flatten to 8-bit L or RGB on a
background, convert to sRGB, encode. The output carries no metadata: no EXIF/GPS, and no ICC
profile (sRGB is what browsers assume without one).

What is encoded how (compressor/encoders.py): a fixed quality keeps its meaning (JPEG has
exactly the seed's pixels, Pillow `quality=q`, stored more compactly as the effort rises);
`quality=auto:<level>` searches each image's smallest encoding at the level's SSIMULACRA2
score (compressor/levels.py); `max_bytes` lowers a fixed quality until the output fits. A
JPEG source that re-encoding would not make smaller is kept instead, losslessly stripped of
its metadata (`Compressed.kept_source`); for JPEG XL output, libjxl's lossless transcode of
that stripped JPEG is kept when smaller than the re-encoding (its pixels are the source's,
and the stripped JPEG can be rebuilt from it bit for bit).
"""

import contextlib
import dataclasses
import io
import struct
import warnings
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image, ImageCms, ImageOps, features

from compressor import animation, encoders, jpeg, search, sizes
from compressor.animation import frame_count
from compressor.metadata import IN_BAND, Carried, carried, encoder_params, into_jpeg, into_webp
from shared.errors import ImageError
from shared.records import Sizes
from shared.rules import (
    ANIMATED_FORMATS,
    LEVELS,
    MAX_FRAMES,
    QUALITY,
    Animation,
    Effort,
    Format,
    MetadataMode,
    Quality,
    level_of,
)

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
    "jxl": ("JXL", "image/jxl", "jxl"),
}
WHITE = (255, 255, 255)
FULL_SIZE = Sizes()  # no bound, no variants


def supported_formats() -> tuple[Format, ...]:
    """The output formats this machine's Pillow can write (AVIF needs Pillow built with it)."""
    return tuple(f for f in FORMATS if f != "avif" or features.check("avif"))


@dataclass(frozen=True)
class Variant:
    """A smaller copy of the output, for a srcset: same format and quality."""

    width: int
    height: int
    data: bytes


@dataclass(frozen=True)
class Compressed:
    data: bytes
    width: int
    height: int
    source_format: str  # as Pillow names it: "JPEG", "PNG", ...
    content_type: str = "image/jpeg"
    format: Format = "jpeg"
    quality: int = 0  # the quality encoded with (a kept source keeps its own tables)
    # True when the output is the source JPEG itself, losslessly rewritten without its
    # metadata, because re-encoding would not have made it smaller.
    kept_source: bool = False
    # SSIMULACRA2 of the output against the prepared source, when a search measured it
    # (quality=auto): the whole image's, or (`score_whole` False) its tile sample's.
    score: float | None = None
    score_whole: bool = True
    variants: tuple[Variant, ...] = ()  # rising widths, each below `width`
    frames: int | None = None  # an animation's, when kept (animation="keep")

    @property
    def extension(self) -> str:
        return FORMATS[self.format][2]


# Our own pixel limit (settings.max_image_pixels) is checked after the header is read and
# before any pixel is decoded; Pillow's fixed limit would otherwise fire first, in open(), and
# name its own number instead of the service's.
Image.MAX_IMAGE_PIXELS = None


def compress(
    data: bytes,
    quality: Quality,
    *,
    max_pixels: int,
    format: Format = "jpeg",
    effort: Effort = "balanced",
    max_bytes: int | None = None,
    background: tuple[int, int, int] = WHITE,
    size: Sizes = FULL_SIZE,
    metadata: MetadataMode = "none",
    animation: Animation = "first",
) -> Compressed:
    """Re-encode an image as an upright sRGB (or greyscale) image, metadata-free by default
    (`metadata` keeps some: compressor/metadata.py).

    Transparent pixels are composited on `background`; animations keep their first frame, or
    (`animation="keep"`, WebP and AVIF output) every frame (compressor/animation.py).
    `size` bounds the output and asks for variants (compressor/sizes.py); `max_bytes` and
    the quality search apply to the main output, and each variant takes its quality.
    Raises ImageError, with a reason fit to show the user, for data that is not an allowed
    image, is damaged, has more than max_pixels pixels (checked before decoding), or cannot
    fit `max_bytes`; ValueError for a quality outside QUALITY's range or a format this machine
    cannot write.
    """
    level = level_of(quality)
    if isinstance(quality, int):
        QUALITY.check(quality)
    if format not in supported_formats():
        raise ValueError(f"output format must be one of {supported_formats()}, got {format!r}")
    im, smaller = _decode(data, max_pixels, size)
    if animation == "keep" and format in ANIMATED_FORMATS and frame_count(im) > 1:
        return _animated(im, quality, max_pixels, format, effort, max_bytes, background, size)
    source_format, icc = str(im.format), im.info.get("icc_profile")
    keepable = smaller is None and source_format == "JPEG" and format in ("jpeg", "jxl")
    keepable = keepable and metadata == "none" and jpeg.displays_as_is(im)
    source_mode = im.mode
    blocks = carried(im, icc, metadata)  # before prepare() turns it upright
    if format == "jxl":  # the plugin writes EXIF and XMP boxes, not a profile: go to sRGB
        blocks = dataclasses.replace(blocks, icc=None)
    im = prepare(im, None if blocks.icc else icc, background)  # a kept profile: no conversion
    im.info.clear()  # Pillow would copy a source comment (COM marker) or profile into the output
    if format in IN_BAND:  # the codec library writes the container: its encoder takes them
        im.info.update(encoder_params(blocks))
    if smaller is not None:
        im = sizes.scale_down(im, smaller)
    width, height = im.size
    if level is None:
        assert isinstance(quality, int)
        room = None if max_bytes is None else max_bytes - _overhead(format, blocks, im.size)
        found = _at_quality(im, quality, format, effort, room)
    else:
        from compressor import levels  # numpy and the metric: loaded by auto only (23 MiB)

        found = levels.at_level(im, format, effort, LEVELS[level])
        if max_bytes is not None and len(found.data) > max_bytes:
            raise ImageError(
                f"cannot reach auto:{level} within max_bytes={max_bytes}: its smallest "
                f"encoding is {len(found.data)} bytes (quality {found.quality})"
            )
    encode = _encoder_of(found, level is not None, format, effort, im)
    variants = tuple(
        Variant(v.width, v.height, _with(blocks, format, v.data, (v.width, v.height)))
        for v in _variants(im, size.widths, encode)
    )
    del im  # free the pixels before mozjpeg allocates its coefficient buffers
    out = _with(blocks, format, found.data, (width, height))
    if max_bytes is not None and len(out) > max_bytes:  # only an auto level gets here
        raise ImageError(
            f"cannot reach auto:{level} within max_bytes={max_bytes}: its smallest encoding "
            f"with the metadata kept is {len(out)} bytes (quality {found.quality})"
        )
    kept = None
    if keepable and format == "jxl":
        kept = _transcoded(data, width, height, source_mode)
    elif keepable and len(out) >= len(data):
        kept = jpeg.keep_source(data)
    if kept is not None and (len(kept) >= len(out) or (max_bytes and len(kept) > max_bytes)):
        kept = None
    return Compressed(
        out if kept is None else kept,
        width,
        height,
        source_format,
        FORMATS[format][1],
        format,
        found.quality,
        kept_source=kept is not None,
        # The source's own pixels: the score of an identical image.
        score=100.0 if kept is not None and level is not None else found.score,
        score_whole=found.whole,
        variants=variants,
    )


def _animated(
    im: Image.Image,
    quality: Quality,
    max_pixels: int,
    output: Format,
    effort: Effort,
    max_bytes: int | None,
    background: tuple[int, int, int],
    size: Sizes,
) -> Compressed:
    """Every frame kept, as an animated WebP or AVIF. A level is searched on the first frame
    and its quality used for all; `max_bytes` bounds the whole animation. No metadata."""
    count = frame_count(im)
    animation.check(im.width, im.height, count, max_pixels)
    target = sizes.fit(im.width, im.height, size)
    frames = animation.read(im, lambda frame: prepare(frame, None, background), target)
    first = frames.images[0]
    level = level_of(quality)
    if level is not None:
        from compressor import levels  # numpy and the metric: loaded by auto only

        quality = levels.at_level(first, output, effort, LEVELS[level]).quality
    assert isinstance(quality, int)

    def encode(_: Image.Image, q: int) -> bytes:
        return animation.encode(frames, output, effort, q)

    found = search.Found(encode(first, quality), quality)
    if max_bytes is not None:
        try:
            found = search.within_bytes(first, encode, max_bytes, quality)
        except search.TooLarge as exc:
            raise ImageError(str(exc)) from None
    variants = tuple(
        Variant(w, h, animation.encode(frames.scaled((w, h)), output, effort, found.quality))
        for w, h in sizes.variant_sizes(first.width, first.height, size.widths)
    )
    return Compressed(
        found.data,
        first.width,
        first.height,
        str(im.format),
        FORMATS[output][1],
        output,
        found.quality,
        variants=variants,
        frames=count,
    )


def _transcoded(data: bytes, width: int, height: int, mode: str) -> bytes | None:
    """The source JPEG, without its metadata, losslessly in JPEG XL; None if libjxl cannot
    take it (the re-encoding stands)."""
    stripped = jpeg.without_metadata(data)
    if stripped is None:
        return None
    try:
        return encoders.jpeg_to_jxl(stripped, width, height, mode)
    except (RuntimeError, OSError, ValueError):
        return None


def _with(blocks: Carried, output: Format, data: bytes, size: tuple[int, int]) -> bytes:
    """The encoded file with the metadata blocks written in (AVIF's encoder wrote them)."""
    if output == "jpeg":
        return into_jpeg(data, blocks)
    if output == "webp":
        return into_webp(data, *size, blocks)
    return data


def _overhead(output: Format, blocks: Carried, size: tuple[int, int]) -> int:
    """How many bytes the blocks add to an output (0 for AVIF and JPEG XL: their encoder's
    size has them)."""
    if output in IN_BAND or not blocks:
        return 0
    empty = {"jpeg": b"\xff\xd8\xff\xd9", "webp": b"RIFF\4\0\0\0WEBPVP8L\0\0\0\0"}[output]
    return len(_with(blocks, output, empty, size)) - len(empty)


def _encoder_of(
    found: search.Found, auto: bool, output: Format, effort: Effort, im: Image.Image
) -> Callable[[Image.Image], bytes]:
    """The encoder and quality the main output was written with, for its variants."""
    if found.full_chroma:
        encode = encoders.full_chroma(output, effort)
    elif auto:
        encode = encoders.perceptual(output, effort, im.mode == "L")[1]
    else:
        encode = encoders.fixed(output, effort)
    return lambda pixels: encode(pixels, found.quality)


def _variants(
    im: Image.Image, widths: tuple[int, ...], encode: Callable[[Image.Image], bytes]
) -> tuple[Variant, ...]:
    """Each width below the output's, scaled from the next larger (widest first)."""
    made: list[Variant] = []
    larger = im
    for size in reversed(sizes.variant_sizes(im.width, im.height, widths)):
        larger = sizes.scale_down(larger, size)
        made.append(Variant(size[0], size[1], encode(larger)))
    return tuple(reversed(made))


def _at_quality(
    im: Image.Image, quality: int, output: Format, effort: Effort, max_bytes: int | None
) -> search.Found:
    """The fixed quality's encoding; under a ceiling, the best quality up to it that fits."""
    encode = encoders.fixed(output, effort)
    if max_bytes is None:
        return search.Found(encode(im, quality), quality)
    try:
        return search.within_bytes(im, encode, max_bytes, quality)
    except search.TooLarge as exc:
        raise ImageError(str(exc)) from None


def prepare(
    im: Image.Image, icc: bytes | None, background: tuple[int, int, int] = WHITE
) -> Image.Image:
    """The decoded image as it will be encoded: upright, 8-bit L or RGB, sRGB, no alpha."""
    _make_upright(im)
    return _to_srgb(_flatten(im, background), icc)


def memory_weight(output: Format) -> int:
    """How many pixels of the budget one source pixel takes while encoding to `output`:
    libavif/aom needs about 300 MiB more than JPEG or WebP at 16 MP (docs/benchmarks.md)."""
    return 3 if output == "avif" else 1


def pixel_count(data: bytes, animation: Animation = "first") -> int:
    """Width × height from the image's header, without decoding it (× its frames when they
    are all kept, at most MAX_FRAMES + 1 counted); 0 if it cannot be read (compress() then
    says why)."""
    try:
        with Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS) as im:
            width, height = im.size
            frames = min(frame_count(im), MAX_FRAMES + 1) if animation == "keep" else 1
    except (*_DECODE_ERRORS, Image.DecompressionBombError):
        return 0
    return width * height * frames


def decode(data: bytes, max_pixels: int) -> tuple[Image.Image, bytes | None]:
    """The image and its embedded ICC profile, as compress() reads them (for benchmarks)."""
    im, _ = _decode(data, max_pixels)
    return im, im.info.get("icc_profile")


def _decode(
    data: bytes, max_pixels: int, size: Sizes = FULL_SIZE
) -> tuple[Image.Image, tuple[int, int] | None]:
    """Open with the allowlist, refuse too many pixels before decoding them, then decode (a
    JPEG at a reduced scale when `size` asks for much smaller). Also returns the upright
    size the output is scaled down to, None to keep the image's own."""
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
            smaller = sizes.target(im, size)
            if smaller is not None:
                sizes.draft(im, smaller)
            im.load()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageError(f"image too large: {exc}") from None
        except _DECODE_ERRORS as exc:
            raise ImageError(f"truncated or corrupt image: {exc}") from None
    return im, smaller


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
