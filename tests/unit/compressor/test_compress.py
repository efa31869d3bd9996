"""compress(): every corpus image, the mode conversions, and every way the input can be bad.

The five sample-data images always run; the full corpus (../shared/corpus, outside the repo)
runs when present and is skipped with a reason otherwise.
"""

import csv
import io
import random
import struct
import warnings
import zlib
from pathlib import Path
from typing import Literal

import pytest
from PIL import Image, ImageChops, ImageStat

from compressor.compress import Compressed, compress, pixel_count
from shared.errors import ImageError

REPO = Path(__file__).resolve().parents[3]
SAMPLES = REPO / "sample-data" / "images"
CORPUS = REPO.parent / "shared" / "corpus"
NO_CORPUS = f"corpus not found at {CORPUS} (it lives outside the repo, in ../shared/corpus)"
LIMIT = 64_000_000
TIMES = "\N{MULTIPLICATION SIGN}"

# Sample file → (upright width, height, output mode, Pillow's name for the source format).
SAMPLE_EXPECTED = {
    "cat_chelsea_451x300.jpg": (451, 300, "RGB", "JPEG"),
    "camera_gray_512.jpg": (512, 512, "L", "JPEG"),
    "grace_hopper_exif_orient6.jpg": (512, 600, "RGB", "JPEG"),
    "astronaut_alpha_512.png": (512, 512, "RGB", "PNG"),
    "mountains_1632x1224.webp": (1632, 1224, "RGB", "WEBP"),
}


def corpus_rows() -> list[dict[str, str]]:
    manifest = CORPUS / "MANIFEST.csv"
    if not manifest.is_file():
        return []
    with manifest.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def corpus_params() -> list[object]:
    rows = corpus_rows()
    if not rows:
        return [pytest.param(None, id="no-corpus", marks=pytest.mark.skip(reason=NO_CORPUS))]
    return [pytest.param(row, id=row["file"]) for row in rows]


def open_output(result: Compressed) -> Image.Image:
    """The output must be a complete, valid JPEG that matches what compress() reported."""
    Image.open(io.BytesIO(result.data), formats=["JPEG"]).verify()
    out = Image.open(io.BytesIO(result.data), formats=["JPEG"])
    out.load()
    assert result.content_type == "image/jpeg"
    assert (result.width, result.height) == out.size
    for key in ("exif", "icc_profile", "comment", "xmp"):
        assert key not in out.info, f"output carries {key}"
    return out


def jpeg_quality(data: bytes) -> int:
    """Estimate the IJG quality a JPEG was saved with, from its luma quantisation table."""
    with Image.open(io.BytesIO(data)) as im:
        table = im.quantization[0]  # type: ignore[attr-defined]
    base = Image.new("L", (8, 8))
    buf = io.BytesIO()
    base.save(buf, "JPEG", quality=50)  # quality 50 is the unscaled IJG table
    with Image.open(buf) as ref:
        scale: float = 100 * sum(table) / sum(ref.quantization[0])  # type: ignore[attr-defined]
    return round((200 - scale) / 2 if scale <= 100 else 5000 / scale)


def encode(im: Image.Image, fmt: str, **params: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **params)
    return buf.getvalue()


def rgb_at(im: Image.Image, xy: tuple[int, int]) -> tuple[int, int, int]:
    pixel = im.getpixel(xy)
    assert isinstance(pixel, tuple) and len(pixel) == 3, pixel
    return (int(pixel[0]), int(pixel[1]), int(pixel[2]))


def grey_at(im: Image.Image, xy: tuple[int, int]) -> int:
    pixel = im.getpixel(xy)
    assert isinstance(pixel, int), pixel
    return pixel


def near(pixel: tuple[int, ...], expected: tuple[int, ...], tolerance: int) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, expected, strict=True))


def mean_abs_diff(a: Image.Image, b: Image.Image) -> float:
    return sum(ImageStat.Stat(ImageChops.difference(a, b)).mean) / len(a.getbands())


# --- every real image ---------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SAMPLE_EXPECTED))
def test_sample_image(name: str) -> None:
    data = (SAMPLES / name).read_bytes()
    result = compress(data, 50, max_pixels=LIMIT)
    out = open_output(result)
    width, height, mode, fmt = SAMPLE_EXPECTED[name]
    assert (out.size, out.mode, result.source_format) == ((width, height), mode, fmt)
    assert len(result.data) < len(data)


def test_every_sample_image_has_a_licence_and_the_set_stays_small() -> None:
    licences = (SAMPLES / "LICENSES.md").read_text(encoding="utf-8")
    images = [p for p in SAMPLES.iterdir() if p.name != "LICENSES.md"]
    assert set(SAMPLE_EXPECTED) <= {p.name for p in images}
    for image in images:
        assert f"## {image.name}" in licences, f"{image.name} is missing from LICENSES.md"
    assert sum(p.stat().st_size for p in images) < 1_500_000


@pytest.mark.parametrize("row", corpus_params())
def test_corpus_image(row: dict[str, str]) -> None:
    data = (CORPUS / row["file"]).read_bytes()
    assert len(data) == int(row["bytes"])
    result = compress(data, 50, max_pixels=LIMIT)
    out = open_output(result)
    width, height = int(row["width"]), int(row["height"])
    if row["exif_orientation"] in ("5", "6", "7", "8"):
        width, height = height, width
    assert out.size == (width, height)
    assert out.mode == ("L" if row["mode"] == "L" else "RGB")
    assert result.source_format == row["format"]
    if row["format"] == "JPEG" and jpeg_quality(data) >= 85:
        assert len(result.data) < len(data)


@pytest.mark.skipif(not corpus_rows(), reason=NO_CORPUS)
def test_corpus_high_quality_jpegs_are_recognised() -> None:
    """Guards the size check above: the q85-q90 corpus JPEGs must be seen as such."""
    assert jpeg_quality((CORPUS / "cat_chelsea_451x300.jpg").read_bytes()) == 90
    assert jpeg_quality((CORPUS / "sunset_1920x1280.jpg").read_bytes()) == 85


def test_exif_orientation_6_turns_the_pixels() -> None:
    data = (SAMPLES / "grace_hopper_exif_orient6.jpg").read_bytes()
    with Image.open(io.BytesIO(data)) as src:
        upright = src.transpose(Image.Transpose.ROTATE_270)
    out = open_output(compress(data, 90, max_pixels=LIMIT))
    assert mean_abs_diff(out, upright) < 4


def test_quality_changes_size() -> None:
    data = (SAMPLES / "cat_chelsea_451x300.jpg").read_bytes()
    low = compress(data, 20, max_pixels=LIMIT).data
    high = compress(data, 80, max_pixels=LIMIT).data
    assert len(low) < 0.7 * len(high)


@pytest.mark.parametrize("quality", [0, 96, -5])
def test_quality_out_of_range_is_a_caller_bug(quality: int) -> None:
    data = (SAMPLES / "cat_chelsea_451x300.jpg").read_bytes()
    with pytest.raises(ValueError, match="quality must be from 1 to 95"):
        compress(data, quality, max_pixels=LIMIT)


# --- transparency and modes ----------------------------------------------------------------


def test_transparent_corners_become_white() -> None:
    data = (SAMPLES / "astronaut_alpha_512.png").read_bytes()
    out = open_output(compress(data, 50, max_pixels=LIMIT))
    for corner in ((2, 2), (509, 2), (2, 509), (509, 509)):
        assert min(rgb_at(out, corner)) >= 250, corner
    assert max(rgb_at(out, (256, 300))) < 250


def test_palette_transparency_becomes_white() -> None:
    im = Image.new("P", (32, 32), 1)
    im.putpalette([0, 0, 0, 200, 0, 0])
    im.paste(0, (0, 0, 16, 32))
    data = encode(im, "PNG", transparency=0)
    out = open_output(compress(data, 95, max_pixels=LIMIT))
    assert out.mode == "RGB"
    assert min(rgb_at(out, (4, 16))) >= 250
    red, green, _ = rgb_at(out, (28, 16))
    assert red > 180 and green < 30


def test_greyscale_with_alpha_stays_greyscale() -> None:
    im = Image.new("LA", (32, 32), (40, 255))
    im.paste((40, 0), (0, 0, 16, 32))
    out = open_output(compress(encode(im, "PNG"), 95, max_pixels=LIMIT))
    assert out.mode == "L"
    assert grey_at(out, (4, 16)) >= 250
    assert abs(grey_at(out, (28, 16)) - 40) <= 3


def test_16_bit_greyscale_is_scaled_not_clipped() -> None:
    levels = [0, 257 * 64, 257 * 128, 257 * 200, 65535]
    im = Image.new("I;16", (16 * len(levels), 16))
    for i, level in enumerate(levels):
        im.paste(level, (16 * i, 0, 16 * i + 16, 16))
    data = encode(im, "PNG")
    assert Image.open(io.BytesIO(data)).mode == "I;16"
    out = open_output(compress(data, 95, max_pixels=LIMIT))
    assert out.mode == "L"
    got = tuple(grey_at(out, (16 * i + 8, 8)) for i in range(len(levels)))
    assert near(got, (0, 64, 128, 200, 255), 2), got  # clipping gives 0, 255, 255, ...


def test_animated_gif_keeps_the_first_frame() -> None:
    frames = [Image.new("RGB", (24, 24), colour) for colour in ("red", "blue", "lime")]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)
    with Image.open(io.BytesIO(data)) as src:
        assert src.n_frames == 3  # type: ignore[attr-defined]
    out = open_output(compress(data, 95, max_pixels=LIMIT))
    red, green, blue = rgb_at(out, (12, 12))
    assert red > 230 and green < 25 and blue < 25


def test_cmyk_jpeg_made_in_test_has_the_right_colours() -> None:
    # Pillow writes CMYK JPEGs inverted with an Adobe marker, like Photoshop.
    im = Image.new("CMYK", (64, 16), (0, 0, 0, 0))
    im.paste((255, 0, 0, 0), (16, 0, 32, 16))  # cyan
    im.paste((0, 255, 255, 0), (32, 0, 48, 16))  # magenta + yellow = red
    im.paste((0, 0, 0, 255), (48, 0, 64, 16))  # black
    data = encode(im, "JPEG", quality=95)
    assert Image.open(io.BytesIO(data)).info.get("adobe") is not None
    out = open_output(compress(data, 95, max_pixels=LIMIT))
    expected = [(255, 255, 255), (0, 255, 255), (255, 0, 0), (0, 0, 0)]
    for i, colour in enumerate(expected):
        pixel = rgb_at(out, (16 * i + 8, 8))
        assert near(pixel, colour, 12), (i, pixel)


@pytest.mark.skipif(not corpus_rows(), reason=NO_CORPUS)
def test_corpus_cmyk_matches_a_reference_conversion() -> None:
    data = (CORPUS / "brushes_cmyk_1365x1074.jpg").read_bytes()
    with Image.open(io.BytesIO(data)) as src:
        assert src.mode == "CMYK" and "adobe" in src.info
        # Reference: RGB = (255 - C) * (255 - K) / 255 per channel, from the decoded planes.
        cyan, magenta, yellow, black = (ImageChops.invert(p) for p in src.split())
        reference = Image.merge(
            "RGB", [ImageChops.multiply(p, black) for p in (cyan, magenta, yellow)]
        )
    out = open_output(compress(data, 90, max_pixels=LIMIT))
    assert mean_abs_diff(out, reference) < 4
    # And not inverted: the big brush on the left is blue.
    red, _, blue = ImageStat.Stat(out.crop((40, 100, 360, 400))).mean
    assert blue > red + 60


# --- colour profiles and metadata ------------------------------------------------------------


def s15(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def xyz_tag(x: float, y: float, z: float) -> bytes:
    return b"XYZ \0\0\0\0" + s15(x) + s15(y) + s15(z)


def linear_rgb_profile() -> bytes:
    """A minimal ICC v2 display profile: sRGB primaries but gamma 1.0 (linear light)."""
    curve = b"curv\0\0\0\0" + struct.pack(">IH", 1, 0x0100)
    text = b"linear sRGB\0"
    desc = b"desc\0\0\0\0" + struct.pack(">I", len(text)) + text + bytes(78)
    tags = [
        (b"desc", desc),
        (b"wtpt", xyz_tag(0.9642, 1.0, 0.8249)),
        (b"rXYZ", xyz_tag(0.4361, 0.2225, 0.0139)),
        (b"gXYZ", xyz_tag(0.3851, 0.7169, 0.0971)),
        (b"bXYZ", xyz_tag(0.1431, 0.0606, 0.7141)),
        (b"rTRC", curve),
        (b"gTRC", curve),
        (b"bTRC", curve),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table = body = b""
    for signature, tag in tags:
        tag += bytes(-len(tag) % 4)
        table += signature + struct.pack(">II", offset + len(body), len(tag))
        body += tag
    header = struct.pack(">I4sI", offset + len(body), b"\0\0\0\0", 0x02100000)
    header += b"mntrRGB XYZ " + bytes(12) + b"acsp" + bytes(28)
    header += s15(0.9642) + s15(1.0) + s15(0.8249) + bytes(48)
    return header + struct.pack(">I", len(tags)) + table + body


def test_icc_profile_is_converted_to_srgb_and_dropped() -> None:
    im = Image.new("RGB", (16, 16), (128, 64, 200))
    data = encode(im, "PNG", icc_profile=linear_rgb_profile())
    out = open_output(compress(data, 95, max_pixels=LIMIT))
    # Linear 128 is sRGB 188: the browser shows what the profile meant, without the profile.
    expected = (188, 137, 229)
    assert near(rgb_at(out, (8, 8)), expected, 3), rgb_at(out, (8, 8))


@pytest.mark.parametrize("icc", [b"not a profile", linear_rgb_profile()[:200]])
def test_broken_icc_profile_is_ignored(icc: bytes) -> None:
    data = encode(Image.new("RGB", (16, 16), (128, 64, 200)), "JPEG", quality=95, icc_profile=icc)
    out = open_output(compress(data, 95, max_pixels=LIMIT))
    assert near(rgb_at(out, (8, 8)), (128, 64, 200), 3), rgb_at(out, (8, 8))


def test_icc_profile_of_the_wrong_colour_space_is_ignored() -> None:
    data = encode(
        Image.new("L", (16, 16), 90), "JPEG", quality=95, icc_profile=linear_rgb_profile()
    )
    out = open_output(compress(data, 95, max_pixels=LIMIT))
    assert out.mode == "L"
    assert abs(grey_at(out, (8, 8)) - 90) <= 2


def test_exif_gps_and_comment_are_stripped() -> None:
    exif = Image.Exif()
    exif[0x010F] = "SpyCam"  # Make
    exif.get_ifd(0x8825)[2] = (48.0, 51.0, 24.0)  # GPSLatitude
    data = encode(Image.new("RGB", (16, 16), "grey"), "JPEG", exif=exif, comment=b"secret")
    with Image.open(io.BytesIO(data)) as src:
        assert "exif" in src.info and src.info["comment"] == b"secret"
    result = compress(data, 50, max_pixels=LIMIT)
    assert b"SpyCam" not in result.data and b"secret" not in result.data
    assert not open_output(result).getexif()


# --- bad input --------------------------------------------------------------------------------


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_header(width: int, height: int) -> bytes:
    """A PNG claiming any size, costing a few bytes: its IDAT holds no pixels at all."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(b""))
        + png_chunk(b"IEND", b"")
    )


def cat_bytes() -> bytes:
    return (SAMPLES / "cat_chelsea_451x300.jpg").read_bytes()


BAD_INPUTS = {
    "empty": (b"", r"^not a supported image \(the file is empty\)$"),
    "truncated-jpeg": (cat_bytes()[:8000], r"^truncated or corrupt image: "),
    "random-bytes": (random.Random(7).randbytes(4096), r"^not a supported image \(expected JPEG"),
    "html": (b"<!DOCTYPE html><html><body>Login</body></html>", r"\(got an HTML page\)$"),
    "svg": (
        b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>',
        r"\(SVG is not supported\)$",
    ),
    "eps": (
        b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n",
        r"\(PostScript/EPS is not supported\)$",
    ),
    "ico-not-allowed": (
        encode(Image.new("RGB", (16, 16)), "ICO"),
        r"^not a supported image \(expected JPEG",
    ),
    "png-without-pixels": (png_header(64, 64), r"^truncated or corrupt image: "),
}


@pytest.mark.parametrize(("data", "reason"), BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_bad_input_is_an_image_error_with_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(ImageError, match=reason):
        compress(data, 50, max_pixels=LIMIT)


def test_too_many_pixels_is_refused_before_decoding() -> None:
    # The data holds no pixels at all: decoding would fail as truncated, not as too large.
    with pytest.raises(ImageError) as caught:
        compress(png_header(9000, 8000), 50, max_pixels=LIMIT)
    assert str(caught.value) == (
        f"image too large: 9000{TIMES}8000 pixels exceeds the limit of 64000000"
    )


def test_small_limit_refuses_a_normal_image() -> None:
    with pytest.raises(ImageError, match=f"^image too large: 451{TIMES}300 pixels"):
        compress(cat_bytes(), 50, max_pixels=451 * 300 - 1)
    assert compress(cat_bytes(), 50, max_pixels=451 * 300).width == 451


@pytest.mark.parametrize("action", ["error", "default", "ignore"])
@pytest.mark.parametrize("size", [(10_000, 10_000), (50_000, 50_000)])
def test_our_limit_decides_before_pillows(
    action: Literal["error", "default", "ignore"], size: tuple[int, int]
) -> None:
    """Sizes past Pillow's own bomb limits get the service's message, whatever the filters."""
    width, height = size
    with (
        warnings.catch_warnings(action=action),
        pytest.raises(
            ImageError,
            match=f"^image too large: {width}{TIMES}{height} pixels exceeds the limit of 64000000$",
        ),
    ):
        compress(png_header(*size), 50, max_pixels=64_000_000)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_pixel_count_reads_the_header_only(fmt: str) -> None:
    out = io.BytesIO()
    Image.new("RGB", (300, 200), "red").save(out, format=fmt)
    data = out.getvalue()
    assert pixel_count(data) == 60_000


def test_pixel_count_needs_no_pixels() -> None:
    out = io.BytesIO()
    Image.new("RGB", (300, 200), "red").save(out, format="JPEG")
    data = out.getvalue()
    header = data[: data.index(b"\xff\xda") + 14]  # up to the scan's header, no scan data
    assert pixel_count(header) == 60_000


@pytest.mark.parametrize("data", [b"", b"<svg/>", b"not an image at all"])
def test_pixel_count_of_unreadable_data_is_zero(data: bytes) -> None:
    assert pixel_count(data) == 0
