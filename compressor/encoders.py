"""The encoders, per output format and effort, chosen by measurement (docs/benchmarks.md).

An encoder takes the prepared image (8-bit L or RGB, sRGB, no alpha, no metadata) and a
quality, and returns the file. Two families:
- `fixed(format, effort)`: for a fixed `quality=q`, which keeps its meaning at every effort.
  JPEG has exactly the seed's pixels (Pillow/libjpeg-turbo `quality=q`: Annex K tables, 4:2:0);
  effort only changes how the same coefficients are stored. WebP and AVIF map effort to
  libwebp's method and libavif's speed.
- `perceptual(format, effort, grey)`: for `quality=auto`, where the quality is searched per
  image (compressor/levels.py), so the encoder that needs the fewest bytes for a given
  SSIMULACRA2 wins: jpegli for JPEG (0.85 × the seed's bytes at equal score, 0.75 × with
  mozjpeg's lossless pass), the same WebP/AVIF settings as above.
`full_chroma(format, effort)` is what the search falls back to when 4:2:0 chroma caps an
image's score below its level (1-px coloured lines, charts): JPEG 4:4:4, AVIF 4:4:4, and
lossless WebP (libwebp's lossy mode is always 4:2:0); JPEG XL (libjxl, XYB) never subsamples.
`jpeg_to_jxl` is libjxl's lossless JPEG transcode: the JPEG's own coefficients, about 20 %
smaller, and the JPEG reconstructible from it bit for bit.
"""

import io
from collections.abc import Callable
from functools import partial
from typing import Any

import mozjpeg_lossless_optimization as mozjpeg
import pillow_jxl  # registers Pillow's "JXL" format (libjxl)
import pyjpegli
from PIL import Image

from shared.rules import EFFORT, Effort, Format

Encoder = Callable[[Image.Image, int], bytes]

# libwebp's method (0 fastest - 6) and libavif's speed (0 slowest - 10) per effort: method 5
# stores 4.5 % fewer bytes than 4 for 7 % more time, 6 another 3 % for 45 % more; AVIF speed 6
# needs 3.4 × speed 8's time for 10 % fewer bytes, 9 is 2.4 × faster than 8 for 10 % more.
WEBP_METHOD: dict[Effort, int] = {"fast": 2, "balanced": 5, "max": 6}
AVIF_SPEED: dict[Effort, int] = {"fast": 9, "balanced": 8, "max": 6}
# libjxl's effort (1 fastest - 10): on a 2.5 MP photo at quality 50-85, effort 3 took 0.1 s,
# 5 took 0.4 s for 1-6 % fewer bytes at the same score, 7 (libjxl's default) 0.9 s for no
# fewer bytes than 5, 9 five seconds for 3 % fewer.
JXL_EFFORT: dict[Effort, int] = {"fast": 3, "balanced": 5, "max": 7}
# One encoder thread: the compressor runs one codec thread per core already.
_AVIF_THREADS = 1


def save(im: Image.Image, pillow_format: str, **params: object) -> bytes:
    out = io.BytesIO()
    try:
        im.save(out, pillow_format, **params)
    except OSError:
        if pillow_format != "JPEG" or not params.get("optimize"):
            raise
        # With optimized Huffman tables libjpeg writes the file in one go, into a buffer that
        # Pillow sizes at one byte a pixel (not settable); a noisy image at a high quality
        # needs more. The standard tables then: the same pixels, a few % more bytes.
        out = io.BytesIO()
        im.save(out, pillow_format, **{**params, "optimize": False})
    return out.getvalue()


def lossless_rewrite(jpeg: bytes) -> bytes:
    """mozjpeg's lossless rewrite: optimal Huffman tables and progressive scans, same pixels,
    about 2.5 % fewer bytes than libjpeg's own `optimize` (and 11 % fewer than jpegli's
    output), no metadata; about 6 × the time of a Huffman-optimised encode."""
    return bytes(mozjpeg.optimize(jpeg))


def _seed(im: Image.Image, quality: int) -> bytes:
    """The seed's encoding: libjpeg's Annex K tables scaled by `quality`, 4:2:0, baseline."""
    return save(im, "JPEG", quality=quality)


def _seed_optimized(im: Image.Image, quality: int) -> bytes:
    """The seed's coefficients with Huffman tables fitted to the image: 9 % fewer bytes."""
    return save(im, "JPEG", quality=quality, optimize=True)


def _seed_rewritten(im: Image.Image, quality: int) -> bytes:
    return lossless_rewrite(_seed(im, quality))


def _jpegli(im: Image.Image, quality: int, rewrite: bool) -> bytes:
    """jpegli (packed RGB only: greyscale images take libjpeg's true 1-component JPEG)."""
    data = pyjpegli.encode(im.tobytes(), im.width, im.height, quality=quality)
    return lossless_rewrite(data) if rewrite else data


def _webp(im: Image.Image, quality: int, method: int) -> bytes:
    return save(im, "WEBP", quality=quality, method=method)


def _webp_lossless(im: Image.Image, quality: int) -> bytes:
    return save(im, "WEBP", lossless=True, quality=50, method=4)  # quality: effort here


def _avif(im: Image.Image, quality: int, speed: int, subsampling: str) -> bytes:
    if im.mode == "L":
        subsampling = "4:0:0"
    # Metadata kept for AVIF rides on the image (compressor/metadata.py avif_params): its
    # container is libavif's to write, the other formats get theirs after encoding.
    kept = {name: im.info[name] for name in ("exif", "xmp", "icc_profile") if name in im.info}
    return save(
        im,
        "AVIF",
        quality=quality,
        speed=speed,
        subsampling=subsampling,
        max_threads=_AVIF_THREADS,
        **kept,
    )


def _jxl(im: Image.Image, quality: int, effort: int) -> bytes:
    # As for AVIF, kept metadata rides on the image (the plugin writes EXIF and XMP boxes).
    # Without an `exif` argument the plugin writes the source's, which the decoded image
    # still caches: b"" says none.
    exif, xmp = im.info.get("exif", b""), im.info.get("xmp", b"")
    # libjxl's lossy mode takes 1-99 (the plugin refuses 100): the search's top, 100, is
    # its lossless mode.
    return save(
        im,
        "JXL",
        quality=min(quality, 99),
        lossless=quality >= 100,
        effort=effort,
        lossless_jpeg=False,
        num_threads=1,
        exif=exif,
        xmp=xmp,
    )


def jpeg_to_jxl(jpeg: bytes, width: int, height: int, mode: str) -> bytes:
    """libjxl's lossless transcode of a JPEG (8-bit L or YCbCr): JPEG reconstruction data
    and the same coefficients; `pillow_jxl.Decoder` gives the JPEG back bit for bit."""
    # The package's stub (1.3.8) predates the arguments its own Pillow plugin passes.
    make: Any = pillow_jxl.Encoder
    encoder = make(
        mode=mode,
        lossless=False,
        quality=100,
        decoding_speed=0,
        effort=JXL_EFFORT[EFFORT.default],
        use_container=False,
        use_original_profile=False,
        num_threads=1,
    )
    return bytes(encoder(jpeg, width, height, jpeg_encode=True))


def _jpeg_444(im: Image.Image, quality: int) -> bytes:
    return save(im, "JPEG", quality=quality, subsampling=0, optimize=True)


_FIXED_JPEG: dict[Effort, Encoder] = {
    "fast": _seed,
    "balanced": _seed_optimized,  # 1.3 × the bare codec's time, same pixels as the seed
    "max": _seed_rewritten,
}


def fixed(output: Format, effort: Effort) -> Encoder:
    """The encoder of a fixed quality number."""
    if output == "jpeg":
        return _FIXED_JPEG[effort]
    if output == "webp":
        return partial(_webp, method=WEBP_METHOD[effort])
    if output == "jxl":
        return partial(_jxl, effort=JXL_EFFORT[effort])
    subsampling = "4:4:4" if effort == "max" else "4:2:0"  # 4:4:4: 1-2 % fewer bytes, +25 %
    return partial(_avif, speed=AVIF_SPEED[effort], subsampling=subsampling)


def perceptual(output: Format, effort: Effort, grey: bool) -> tuple[Encoder, Encoder]:
    """(what the search tries, what writes the output) for `quality=auto`.

    They differ only by JPEG's lossless rewrite at effort max, which does not change pixels, so
    the search need not pay for it.
    """
    if output == "jpeg":
        if grey:
            return _seed_optimized, _FIXED_JPEG[effort]
        search = partial(_jpegli, rewrite=False)
        return search, partial(_jpegli, rewrite=True) if effort == "max" else search
    encoder = fixed(output, effort)
    return encoder, encoder


def full_chroma(output: Format, effort: Effort) -> Encoder:
    """The fallback that keeps full-resolution colour (see the module's docstring)."""
    if output == "jpeg":
        return _jpeg_444
    if output == "webp":
        return _webp_lossless
    if output == "jxl":
        return fixed(output, effort)  # full colour already
    return partial(_avif, speed=AVIF_SPEED[effort], subsampling="4:4:4")


def has_quality_scale(encoder: Encoder) -> bool:
    """False for lossless WebP: one encode, whatever the quality."""
    return encoder is not _webp_lossless
