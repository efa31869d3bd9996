"""compress(): the encoder's promises — same pixels as the seed's JPEG in fewer bytes, a kept
source when re-encoding would not shrink it, WebP/AVIF outputs, the background colour."""

import io
from pathlib import Path

import pillow_jxl
import pytest
from PIL import Image, ImageChops, ImageStat, features

from compressor import encoders
from compressor.compress import FORMATS, Compressed, compress, decode, prepare, supported_formats
from compressor.jpeg import without_metadata
from shared.rules import Effort
from tests.unit.compressor.test_compress import (
    LIMIT,
    SAMPLES,
    encode,
    grey_at,
    linear_rgb_profile,
    near,
    rgb_at,
)

SAMPLE_NAMES = sorted(p.name for p in SAMPLES.iterdir() if p.suffix in (".jpg", ".png", ".webp"))


def same_pixels(a: Image.Image, b: Image.Image) -> bool:
    return a.mode == b.mode and a.size == b.size and ImageChops.difference(a, b).getbbox() is None


def opened(data: bytes, fmt: str) -> Image.Image:
    im = Image.open(io.BytesIO(data), formats=[fmt])
    im.load()
    return im


def jpeg_with_gps(im: Image.Image, **params: object) -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "SpyCam"  # Make
    exif.get_ifd(0x8825)[2] = (48.0, 51.0, 24.0)  # GPSLatitude
    return encode(im, "JPEG", exif=exif, comment=b"secret", **params)


def photo() -> Image.Image:
    return Image.open(SAMPLES / "cat_chelsea_451x300.jpg").convert("RGB")


# --- JPEG: the seed's pixels, fewer bytes -------------------------------------------------------


def seed_and_ours(name: str, quality: int, effort: Effort = "balanced") -> tuple[bytes, Compressed]:
    """The seed's encoding of the prepared image (`quality=q`, nothing else), and ours."""
    data = (SAMPLES / name).read_bytes()
    im, icc = decode(data, LIMIT)
    prepared = prepare(im, icc)
    prepared.info.clear()
    seed = encode(prepared, "JPEG", quality=quality)
    return seed, compress(data, quality, max_pixels=LIMIT, effort=effort)


# The share of the seed's bytes each effort stays under, with exactly the seed's pixels: the
# same file (fast), fitted Huffman tables (balanced), mozjpeg's progressive rewrite (max).
SMALLER_THAN_SEED: dict[Effort, float] = {"fast": 1.0001, "balanced": 1.0, "max": 0.97}


@pytest.mark.parametrize("name", SAMPLE_NAMES)
@pytest.mark.parametrize("quality", [10, 30, 50, 75])
@pytest.mark.parametrize("effort", ["fast", "balanced", "max"])
def test_jpeg_has_exactly_the_seeds_pixels_in_fewer_bytes(
    name: str, quality: int, effort: Effort
) -> None:
    """So its score (any metric) equals the seed's at every quality: a lossless difference."""
    seed, ours = seed_and_ours(name, quality, effort)
    assert not ours.kept_source
    assert (ours.format, ours.quality, ours.extension) == ("jpeg", quality, "jpg")
    assert same_pixels(opened(ours.data, "JPEG"), opened(seed, "JPEG"))
    assert len(ours.data) < SMALLER_THAN_SEED[effort] * len(seed)
    if effort == "fast":
        assert ours.data == seed


def test_jpeg_at_effort_max_is_progressive_and_bare() -> None:
    _, ours = seed_and_ours("grace_hopper_exif_orient6.jpg", 50, "max")
    out = opened(ours.data, "JPEG")
    assert out.info.get("progressive") == 1
    assert not {"exif", "icc_profile", "comment", "xmp"} & set(out.info)


# --- never larger: the source is kept -----------------------------------------------------------


def test_a_jpeg_that_would_grow_is_kept_without_its_metadata() -> None:
    source = jpeg_with_gps(photo(), quality=30)
    result = compress(source, 90, max_pixels=LIMIT)
    assert result.kept_source
    assert len(result.data) < len(source)
    assert b"SpyCam" not in result.data and b"secret" not in result.data
    out = opened(result.data, "JPEG")
    assert not out.getexif() and "comment" not in out.info
    assert same_pixels(out, opened(source, "JPEG"))  # a lossless rewrite, not a re-encode
    assert (result.width, result.height, result.source_format) == (451, 300, "JPEG")
    assert result.quality == 90  # what was asked; the source's own tables apply


def test_a_kept_jpeg_keeps_its_icc_profile_so_it_looks_the_same() -> None:
    source = encode(photo(), "JPEG", quality=30, icc_profile=linear_rgb_profile())
    result = compress(source, 90, max_pixels=LIMIT)
    assert result.kept_source
    assert opened(result.data, "JPEG").info.get("icc_profile") == linear_rgb_profile()


def test_a_jpeg_that_shrinks_is_re_encoded() -> None:
    source = encode(photo(), "JPEG", quality=95)
    result = compress(source, 50, max_pixels=LIMIT)
    assert not result.kept_source and len(result.data) < len(source) / 2


def test_a_rotated_jpeg_is_never_kept() -> None:
    """Kept bytes would need the EXIF block to display upright: re-encode instead."""
    exif = Image.Exif()
    exif[0x0112] = 6
    source = encode(photo(), "JPEG", quality=30, exif=exif)
    result = compress(source, 90, max_pixels=LIMIT)
    assert not result.kept_source
    assert (result.width, result.height) == (300, 451)
    assert not opened(result.data, "JPEG").getexif()


def test_a_cmyk_jpeg_is_never_kept() -> None:
    source = encode(Image.new("CMYK", (64, 64), (0, 255, 255, 0)), "JPEG", quality=20)
    result = compress(source, 95, max_pixels=LIMIT)
    assert not result.kept_source
    out = opened(result.data, "JPEG")
    assert out.mode == "RGB" and near(rgb_at(out, (32, 32)), (255, 0, 0), 12)


def test_other_sources_and_formats_are_never_kept() -> None:
    png = encode(Image.new("RGB", (64, 64), "navy"), "PNG")  # 100s of bytes: JPEG is larger
    assert not compress(png, 95, max_pixels=LIMIT).kept_source
    jpeg = encode(photo(), "JPEG", quality=20)
    assert not compress(jpeg, 95, max_pixels=LIMIT, format="webp").kept_source


# --- WebP, AVIF and JPEG XL ---------------------------------------------------------------------


@pytest.mark.parametrize("fmt", [f for f in FORMATS if f != "jpeg"])
def test_modern_formats(fmt: str) -> None:
    if fmt not in supported_formats():
        pytest.skip(f"this Pillow cannot write {fmt}")
    source = jpeg_with_gps(photo(), quality=95)
    result = compress(source, 50, max_pixels=LIMIT, format=fmt)  # type: ignore[arg-type]
    pillow_name, content_type, extension = FORMATS[fmt]
    assert (result.format, result.content_type, result.extension) == (fmt, content_type, extension)
    out = opened(result.data, pillow_name)
    assert (out.width, out.height) == (result.width, result.height) == (451, 300)
    assert b"SpyCam" not in result.data and not out.getexif()
    if fmt != "jxl":  # libjxl describes its (sRGB) colour encoding as a profile on decode
        assert "icc_profile" not in out.info or not out.info["icc_profile"]
    assert len(result.data) < len(source) / 3
    with Image.open(SAMPLES / "cat_chelsea_451x300.jpg") as original:
        diff = ImageChops.difference(out.convert("RGB"), original.convert("RGB"))
        assert sum(ImageStat.Stat(diff).mean) / 3 < 8  # the same picture


def test_modern_formats_flatten_transparency_too() -> None:
    data = (SAMPLES / "astronaut_alpha_512.png").read_bytes()
    result = compress(data, 50, max_pixels=LIMIT, format="webp")
    out = opened(result.data, "WEBP")
    assert out.mode == "RGB" and min(rgb_at(out, (2, 2))) >= 245


def test_avif_is_refused_when_this_pillow_lacks_it() -> None:
    if features.check("avif"):
        assert "avif" in supported_formats()
    else:
        with pytest.raises(ValueError, match="output format must be one of"):
            compress(photo().tobytes(), 50, max_pixels=LIMIT, format="avif")


def test_unknown_format_is_a_caller_bug() -> None:
    with pytest.raises(ValueError, match="output format must be one of"):
        compress(b"", 50, max_pixels=LIMIT, format="gif")  # type: ignore[arg-type]


# --- background colour ----------------------------------------------------------------------------


def test_transparency_goes_on_the_background_colour() -> None:
    data = (SAMPLES / "astronaut_alpha_512.png").read_bytes()
    result = compress(data, 90, max_pixels=LIMIT, background=(0, 128, 255))
    out = opened(result.data, "JPEG")
    assert near(rgb_at(out, (2, 2)), (0, 128, 255), 6), rgb_at(out, (2, 2))


def test_greyscale_transparency_goes_on_the_backgrounds_grey() -> None:
    im = Image.new("LA", (32, 32), (40, 0))
    result = compress(encode(im, "PNG"), 95, max_pixels=LIMIT, background=(255, 0, 0))
    out = opened(result.data, "JPEG")
    assert out.mode == "L" and abs(grey_at(out, (16, 16)) - 76) <= 3  # red's luma


def test_compressed_defaults_describe_a_jpeg() -> None:
    result = Compressed(b"", 1, 1, "PNG")
    assert (result.format, result.content_type, result.extension, result.kept_source) == (
        "jpeg",
        "image/jpeg",
        "jpg",
        False,
    )


def test_sample_names_cover_every_kind() -> None:
    assert {Path(n).suffix for n in SAMPLE_NAMES} == {".jpg", ".png", ".webp"}


# --- JPEG XL's lossless JPEG transcode -------------------------------------------------------


def test_a_jpeg_xl_output_keeps_a_low_quality_jpeg_as_its_bit_exact_transcode() -> None:
    # A JPEG at quality 20 re-encoded at 50 only grows: its lossless transcode is kept.
    source = jpeg_with_gps(photo(), quality=20)
    result = compress(source, 50, max_pixels=LIMIT, format="jxl")
    assert result.kept_source and result.format == "jxl" and len(result.data) < len(source)
    rebuilt, _, jpeg, *_ = pillow_jxl.Decoder(num_threads=1)(result.data)
    assert rebuilt and jpeg == without_metadata(source)  # bit for bit, metadata cut out
    assert b"SpyCam" in source and b"SpyCam" not in jpeg and b"SpyCam" not in result.data


def test_a_jpeg_xl_output_re_encodes_when_that_is_smaller() -> None:
    source = jpeg_with_gps(photo(), quality=95)
    result = compress(source, 50, max_pixels=LIMIT, format="jxl")
    assert not result.kept_source and len(result.data) < len(source) / 3


def test_without_metadata_cuts_only_metadata_segments() -> None:
    source = jpeg_with_gps(photo(), quality=90)
    stripped = without_metadata(source)
    assert stripped is not None and len(stripped) < len(source) and b"SpyCam" not in stripped
    with Image.open(io.BytesIO(stripped)) as im, Image.open(io.BytesIO(source)) as original:
        assert im.tobytes() == original.tobytes()  # the same scan data
        assert not im.getexif()
    assert without_metadata(b"not a jpeg") is None
    assert without_metadata(source[:40]) is None  # cut before its first scan


def test_jpeg_xl_takes_the_searchs_top_quality_as_lossless() -> None:
    im = photo()
    top = Image.open(io.BytesIO(encoders.fixed("jxl", "balanced")(im, 100)))
    assert top.tobytes() == im.tobytes()  # libjxl's lossless mode: every pixel kept
