"""Sizes (issue 15) without servers: the rules, the fit, the variants, reduced JPEG decoding.

- `max_width`/`max_height` bound the main output, aspect kept, never upscaled;
- `widths` make one variant per width below the output's, same format and quality;
- a JPEG far bigger than the output is decoded at a reduced scale, never below the output;
- EXIF orientation is applied before the bound (a portrait stays a portrait);
- the rules name what is wrong: zero, negative, huge, repeated or too many widths, and a size
  the output format cannot hold.
"""

import io
from pathlib import Path

import pytest
from PIL import Image

from compressor import sizes
from compressor.compress import compress
from shared.names import is_variant_key, variant_key
from shared.records import Sizes
from shared.rules import MAX_WIDTHS, RuleError, check_sizes, parse_widths

SAMPLES = Path(__file__).resolve().parents[3] / "sample-data" / "images"
LIMIT = 64_000_000


def photo_jpeg(width: int, height: int, orientation: int | None = None) -> bytes:
    """A JPEG with detail everywhere (a smooth ramp plus a checker), optionally EXIF-turned."""
    im = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    checker = Image.effect_noise((width, height), 60).convert("RGB")
    im = Image.blend(im, checker, 0.4)
    out = io.BytesIO()
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    im.save(out, "JPEG", quality=90, exif=exif.tobytes())
    return out.getvalue()


def opened(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as im:
        im.load()
        return im


# --- the fit ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "bounds", "expected"),
    [
        ((4000, 3000), Sizes(max_width=1000), (1000, 750)),
        ((4000, 3000), Sizes(max_height=300), (400, 300)),
        ((4000, 3000), Sizes(max_width=1000, max_height=300), (400, 300)),  # within both
        ((400, 300), Sizes(max_width=1000, max_height=1000), (400, 300)),  # never upscaled
        ((4000, 3), Sizes(max_width=100), (100, 1)),  # at least one pixel
        ((400, 300), Sizes(), (400, 300)),
    ],
)
def test_fit_keeps_the_aspect_and_never_upscales(
    size: tuple[int, int], bounds: Sizes, expected: tuple[int, int]
) -> None:
    assert sizes.fit(*size, bounds) == expected


def test_variant_sizes_leave_out_widths_at_or_above_the_output() -> None:
    assert sizes.variant_sizes(1000, 500, (320, 640, 1000, 1280)) == [(320, 160), (640, 320)]


# --- through compress() ---------------------------------------------------------------------


def test_compress_bounds_the_output_and_makes_each_variant() -> None:
    done = compress(
        photo_jpeg(1600, 1200), 50, max_pixels=LIMIT, size=Sizes(max_width=800, widths=(200, 400))
    )
    assert (done.width, done.height) == (800, 600) and opened(done.data).size == (800, 600)
    assert [(v.width, v.height) for v in done.variants] == [(200, 150), (400, 300)]
    for variant in done.variants:
        im = opened(variant.data)
        assert im.format == "JPEG" and im.size == (variant.width, variant.height)
    assert not done.kept_source
    assert len(done.variants[0].data) < len(done.variants[1].data) < len(done.data)


@pytest.mark.parametrize("output", ["webp", "avif"])
def test_variants_take_the_outputs_format(output: str) -> None:
    done = compress(
        photo_jpeg(640, 480), 50, max_pixels=LIMIT, format=output, size=Sizes(widths=(160,))
    )
    assert [opened(v.data).format for v in done.variants] == [output.upper()]


def test_a_turned_photo_is_bounded_upright() -> None:
    data = photo_jpeg(1200, 800, orientation=6)  # stored landscape, shown portrait
    done = compress(data, 50, max_pixels=LIMIT, size=Sizes(max_height=300))
    assert (done.width, done.height) == (200, 300)


def test_a_big_jpeg_is_decoded_at_a_reduced_scale_never_below_the_output() -> None:
    data = photo_jpeg(2400, 1600)
    with Image.open(io.BytesIO(data)) as im:
        smaller = sizes.target(im, Sizes(max_width=500))
        assert smaller == (500, 333)
        sizes.draft(im, smaller)
        im.load()
        assert im.size == (600, 400)  # libjpeg's 1/4 scale: the smallest still >= 500 x 333
    done = compress(data, 50, max_pixels=LIMIT, size=Sizes(max_width=500))
    assert (done.width, done.height) == (500, 333)


def test_a_bound_larger_than_the_image_changes_nothing() -> None:
    data = (SAMPLES / "cat_chelsea_451x300.jpg").read_bytes()
    plain = compress(data, 50, max_pixels=LIMIT)
    bounded = compress(data, 50, max_pixels=LIMIT, size=Sizes(max_width=2000, max_height=2000))
    assert bounded.data == plain.data and bounded.variants == ()


def test_auto_variants_take_the_quality_the_output_reached() -> None:
    data = photo_jpeg(800, 600)
    done = compress(data, "auto:medium", max_pixels=LIMIT, size=Sizes(widths=(200,)))
    assert done.score is not None and len(done.variants) == 1


# --- keys -----------------------------------------------------------------------------------


def test_variant_keys_never_look_like_an_output() -> None:
    key = variant_key("r1/3-0.webp", 320)
    assert key == "r1/3-0-320w.webp"
    assert is_variant_key(key) and not is_variant_key("r1/3-0.webp")
    assert not key.startswith("r1/3-0.")  # the reconciler's prefix for image 3.0's output


# --- the rules ------------------------------------------------------------------------------


def test_widths_are_parsed_once_each_in_rising_order() -> None:
    assert parse_widths(" 1280, 320 ,640") == (320, 640, 1280)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("0", "widths must be from 1 to 65500, got 0"),
        ("-320", "widths must be from 1 to 65500, got -320"),
        ("100000", "widths must be from 1 to 65500, got 100000"),
        ("320,abc", "widths must be a whole number from 1 to 65500, got 'abc'"),
        ("320,,640", "widths must be whole numbers separated by commas"),
        ("320,320", "widths: 320 is given twice"),
        (",".join(str(w) for w in range(1, MAX_WIDTHS + 2)), f"at most {MAX_WIDTHS} widths"),
    ],
)
def test_bad_widths_name_the_rule(raw: str, message: str) -> None:
    with pytest.raises(RuleError, match=message.replace("(", r"\(")):
        parse_widths(raw)


def test_a_size_the_format_cannot_hold_names_its_limit() -> None:
    with pytest.raises(RuleError, match="max_width=20000: webp holds at most 16383 px a side"):
        check_sizes("webp", 20000, None, ())
    with pytest.raises(RuleError, match="widths: 17000 is wider than avif holds"):
        check_sizes("avif", None, None, (320, 17000))
    check_sizes("jpeg", 20000, 20000, (20000,))  # JPEG holds it
