"""The quality searches (compressor/levels.py and search.py) through compress(), no servers.

- `quality="auto:<level>"` gives an output whose SSIMULACRA2 against the prepared source,
  measured on the whole decoded output, reaches the level's target: every generated graphic
  (tests/imagesets.py) at every level in JPEG and one level (in turn) in WebP, AVIF and
  JPEG XL, and a few corpus photos (capped at 4 MP; skipped with a reason without the corpus);
- 1-px coloured lines, which 4:2:0 chroma caps far below any level, fall back to full chroma;
- the proxy: small images are scored whole, big ones through a mosaic of 16-px aligned tiles;
- `max_bytes`: the highest quality that fits, `TooLarge`/ImageError naming the smallest size;
- effort: what it changes and what it keeps.
"""

import io
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, JpegImagePlugin

from compressor import encoders, levels, search
from compressor.compress import FORMATS, compress, supported_formats
from compressor.ssimulacra2 import score
from shared.errors import ImageError
from shared.rules import AUTO_QUALITY, LEVELS, Effort, Format, Level, Quality
from tests import imagesets

REPO = Path(__file__).resolve().parents[3]
SAMPLES = REPO / "sample-data" / "images"
CORPUS = REPO.parent / "shared" / "corpus"
NO_CORPUS = f"corpus not found at {CORPUS} (it lives outside the repo, in ../shared/corpus)"
LIMIT = 64_000_000
LEVEL_NAMES: tuple[Level, ...] = ("high", "medium", "low")
EFFORTS: tuple[Effort, ...] = ("fast", "balanced", "max")
# Small, whole-scored, mosaic-scored, greyscale, and one capped from 16 MP to 4 MP.
CORPUS_PICKS = (
    "cat_chelsea_451x300.jpg",
    "camera_gray_512.jpg",
    "interior_portrait_1080x1619.jpg",
    "sunset_1920x1280.jpg",
    "dandelions_5312x2988.jpg",
)


def decoded(data: bytes, fmt: Format, mode: str) -> Image.Image:
    """The output as the metric compares it with the source: 8-bit, in the source's mode."""
    with Image.open(io.BytesIO(data), formats=[FORMATS[fmt][0]]) as out:
        out.load()
        return out.convert(mode)


def whole_score(source: Image.Image, data: bytes, fmt: Format) -> float:
    out = decoded(data, fmt, source.mode)
    return score(imagesets.to_array(source), imagesets.to_array(out))


def png(im: Image.Image) -> bytes:
    return imagesets.to_png(im)


def needs(fmt: Format) -> None:
    if fmt not in supported_formats():
        pytest.skip(f"this Pillow cannot write {fmt}")


@lru_cache(maxsize=1)
def graphic(name: str) -> Image.Image:
    return imagesets.GRAPHICS[name]()


@lru_cache(maxsize=1)
def corpus_photo(name: str) -> Image.Image:
    return imagesets.prepare(CORPUS / name)


@lru_cache(maxsize=1)
def sample(name: str) -> Image.Image:
    return imagesets.prepare(SAMPLES / name)


@lru_cache(maxsize=1)
def source_and_file(kind: str, name: str) -> tuple[Image.Image, bytes]:
    """A graphic or a prepared corpus photo, and its lossless file for compress()."""
    source = graphic(name) if kind == "graphics" else corpus_photo(name)
    return source, png(source)


def level_params() -> list[object]:
    """(set, name, format, level): every graphic at all JPEG levels and at one WebP and one AVIF
    level (taken in turn, so every level is covered); the corpus picks likewise."""
    out: list[object] = []
    corpus = [n for n in CORPUS_PICKS if n in imagesets.corpus_names(CORPUS)]
    sets = [("graphics", n) for n in imagesets.GRAPHICS] + [("corpus", n) for n in corpus]
    for i, (kind, name) in enumerate(sets):
        combos: list[tuple[Format, Level]] = [("jpeg", level) for level in LEVEL_NAMES]
        combos += [("webp", LEVEL_NAMES[i % 3]), ("avif", LEVEL_NAMES[(i + 1) % 3])]
        combos += [("jxl", LEVEL_NAMES[(i + 2) % 3])]
        for fmt, level in combos:
            out.append(pytest.param(kind, name, fmt, level, id=f"{name}-{fmt}-{level}"))
    if not corpus:
        out.append(
            pytest.param(
                "corpus", "", "jpeg", "high", id="corpus", marks=pytest.mark.skip(reason=NO_CORPUS)
            )
        )
    return out


# --- every image reaches its level --------------------------------------------------------------


@pytest.mark.parametrize(("kind", "name", "fmt", "level"), level_params())
def test_auto_reaches_the_level_on_the_whole_image(
    kind: str, name: str, fmt: Format, level: Level
) -> None:
    needs(fmt)
    source, data = source_and_file(kind, name)
    result = compress(data, AUTO_QUALITY[level], max_pixels=LIMIT, format=fmt)
    assert result.format == fmt and (result.width, result.height) == source.size
    assert result.score is not None  # the search reports what it measured
    assert result.score_whole == (source.width * source.height <= levels.WHOLE_PIXELS)
    measured = whole_score(source, result.data, fmt)
    target = LEVELS[level]
    assert measured >= target, (
        f"{name} {fmt} auto:{level}: quality {result.quality} scores {measured:.2f} < {target} "
        f"(the search reported {result.score:.2f}, whole={result.score_whole})"
    )
    if result.score_whole:  # scored on the very pixels written: the same number
        assert result.score == pytest.approx(measured, abs=0.01)


def test_a_greyscale_source_gives_a_one_component_jpeg() -> None:
    data = (SAMPLES / "camera_gray_512.jpg").read_bytes()
    result = compress(data, "auto:medium", max_pixels=LIMIT)
    assert not result.kept_source
    out = decoded(result.data, "jpeg", "L")
    with Image.open(io.BytesIO(result.data)) as jpeg:
        assert jpeg.mode == "L" and jpeg.layers == 1  # type: ignore[attr-defined]
    assert whole_score(sample("camera_gray_512.jpg"), result.data, "jpeg") >= LEVELS["medium"]
    assert out.size == (512, 512)


# --- full chroma when 4:2:0 caps the score ------------------------------------------------------


def sparse_colour_lines() -> Image.Image:
    """1-px coloured lines every 16 px on white: 4:2:0 scores below 0 even at quality 100."""
    colours = [(255, 0, 0), (0, 160, 0), (0, 0, 255), (255, 0, 255)]
    a = np.full((256, 384, 3), 255, np.uint8)
    for k, x in enumerate(range(3, 384, 16)):
        a[:, x] = colours[k % 4]
    for k, y in enumerate(range(5, 256, 21)):
        a[y, :] = colours[(k + 2) % 4]
    return Image.fromarray(a)


def test_coloured_lines_fall_back_to_full_chroma() -> None:
    im = sparse_colour_lines()
    subsampled = encoders.fixed("jpeg", "fast")(im, 100)
    assert whole_score(im, subsampled, "jpeg") < LEVELS["high"] - 50  # 4:2:0 cannot get there
    found = levels.at_level(im, "jpeg", "balanced", LEVELS["high"])
    assert found.full_chroma and found.reached and found.whole
    result = compress(png(im), "auto:high", max_pixels=LIMIT)
    assert result.quality == found.quality and result.data == found.data
    with Image.open(io.BytesIO(result.data)) as out:
        assert JpegImagePlugin.get_sampling(out) == 0  # 4:4:4
        assert all((h, v) == (1, 1) for _, h, v, _ in out.layer)  # type: ignore[attr-defined]
    assert whole_score(im, result.data, "jpeg") >= LEVELS["high"]


def test_full_chroma_jpeg_writes_dense_lines_at_every_quality() -> None:
    im = imagesets.g_colour_lines()
    encode = encoders.full_chroma("jpeg", "balanced")
    for quality in (80, 90, 94, 95, 100):
        with Image.open(io.BytesIO(encode(im, quality))) as out:
            assert out.size == im.size


# --- the proxy ----------------------------------------------------------------------------------


def position_coded(width: int, height: int, mode: str = "RGB") -> Image.Image:
    """Each pixel names its position (x, y < 4096): R = x mod 256, G = y mod 256, B = the high
    bits of both."""
    yy, xx = np.mgrid[0:height, 0:width]
    a = np.stack([xx % 256, yy % 256, (xx // 256) * 16 + yy // 256], axis=2).astype(np.uint8)
    im = Image.fromarray(a)
    return im if mode == "RGB" else im.convert(mode)


@pytest.mark.parametrize(
    "size", [(400, 300), (500, 640), (4000, 150), (150, 4000), (3000, 280)], ids=str
)
def test_small_or_thin_images_are_scored_whole(size: tuple[int, int]) -> None:
    im = position_coded(*size)
    proxy, whole = levels.make_proxy(im)
    assert whole and proxy is im


@pytest.mark.parametrize(
    "size", [(2000, 1500), (1500, 2000), (700, 600), (1024, 512), (3900, 1100)], ids=str
)
def test_big_images_are_scored_through_a_mosaic_of_aligned_tiles(size: tuple[int, int]) -> None:
    im = position_coded(*size)
    mosaic, whole = levels.make_proxy(im)
    assert not whole and mosaic.mode == im.mode
    tile = levels.TILE
    # six scales, as in the image: each side survives five halvings at >= 8 px (>= 241 px)
    assert min(mosaic.size) >= 241
    if min(mosaic.size) > 3 * tile:  # not stretched to three tiles across an elongated image
        assert 60_000 <= mosaic.width * mosaic.height <= levels.PROXY_PIXELS
    assert tile == 96 and mosaic.width % tile == 0 and mosaic.height % tile == 0
    positions: dict[tuple[int, int], tuple[int, int]] = {}
    for j in range(mosaic.height // tile):
        for i in range(mosaic.width // tile):
            cut = mosaic.crop((i * tile, j * tile, (i + 1) * tile, (j + 1) * tile))
            r, g, b = cut.getpixel((0, 0))  # type: ignore[misc]
            x, y = (b // 16) * 256 + r, (b % 16) * 256 + g
            assert x % 16 == 0 and y % 16 == 0, (i, j, x, y)
            assert x + tile <= im.width and y + tile <= im.height
            assert cut.tobytes() == im.crop((x, y, x + tile, y + tile)).tobytes()
            positions[i, j] = (x, y)
    across, down = mosaic.width // tile, mosaic.height // tile
    for (i, j), (x, y) in positions.items():  # an even grid: left to right, top to bottom
        if i + 1 < across:
            assert positions[i + 1, j][0] > x and positions[i + 1, j][1] == y
        if j + 1 < down:
            assert positions[i, j + 1][1] > y and positions[i, j + 1][0] == x
    xs = [x for x, _ in positions.values()]
    ys = [y for _, y in positions.values()]
    assert min(xs) < im.width / 4 and max(xs) + tile > im.width * 3 / 4  # spread over it all
    assert min(ys) < im.height / 4 and max(ys) + tile > im.height * 3 / 4


def test_a_greyscale_mosaic_stays_greyscale() -> None:
    im = position_coded(1200, 900).convert("L")
    mosaic, whole = levels.make_proxy(im)
    assert not whole and mosaic.mode == "L"


# --- max_bytes ----------------------------------------------------------------------------------


def photo() -> Image.Image:
    return sample("cat_chelsea_451x300.jpg")


JPEG_BALANCED = encoders.fixed("jpeg", "balanced")


def test_within_bytes_returns_the_highest_quality_that_fits() -> None:
    im = photo()
    limit = (len(JPEG_BALANCED(im, 60)) + len(JPEG_BALANCED(im, 61))) // 2
    found = search.within_bytes(im, JPEG_BALANCED, limit, 90)
    assert len(found.data) <= limit and found.data == JPEG_BALANCED(im, found.quality)
    assert len(JPEG_BALANCED(im, found.quality + 1)) > limit  # the next one up does not fit
    assert found.encodes <= 8


def test_within_bytes_returns_the_top_quality_when_it_fits() -> None:
    im = photo()
    found = search.within_bytes(im, JPEG_BALANCED, 10_000_000, 72)
    assert (found.quality, found.encodes) == (72, 1)
    assert found.data == JPEG_BALANCED(im, 72)


def test_within_bytes_names_the_smallest_size_when_nothing_fits() -> None:
    im = photo()
    smallest = len(JPEG_BALANCED(im, 1))
    with pytest.raises(search.TooLarge, match=f"quality 1, is {smallest} bytes") as caught:
        search.within_bytes(im, JPEG_BALANCED, smallest - 1, 80)
    assert caught.value.smallest == smallest


def test_compress_lowers_a_fixed_quality_to_fit_max_bytes() -> None:
    data = png(photo())
    free = compress(data, 80, max_pixels=LIMIT)
    ceiling = len(free.data) * 6 // 10
    result = compress(data, 80, max_pixels=LIMIT, max_bytes=ceiling)
    assert len(result.data) <= ceiling and result.quality < 80
    assert result.data == JPEG_BALANCED(photo(), result.quality)


def test_compress_names_the_smallest_size_when_max_bytes_is_impossible() -> None:
    smallest = len(JPEG_BALANCED(photo(), 1))
    with pytest.raises(ImageError, match=f"max_bytes=300: the smallest.* is {smallest} bytes"):
        compress(png(photo()), 80, max_pixels=LIMIT, max_bytes=300)


def test_compress_says_when_a_level_cannot_fit_max_bytes() -> None:
    with pytest.raises(ImageError, match="cannot reach auto:high within max_bytes=300"):
        compress(png(photo()), "auto:high", max_pixels=LIMIT, max_bytes=300)


# --- effort -------------------------------------------------------------------------------------


def pillow_jpeg(im: Image.Image, **params: object) -> bytes:
    out = io.BytesIO()
    im.save(out, "JPEG", **params)
    return out.getvalue()


@pytest.mark.parametrize("quality", [30, 75])
def test_jpeg_fast_is_pillows_plain_encoding_and_max_is_progressive(quality: int) -> None:
    data = png(photo())
    fast = compress(data, quality, max_pixels=LIMIT, effort="fast")
    assert fast.data == pillow_jpeg(photo(), quality=quality)
    best = compress(data, quality, max_pixels=LIMIT, effort="max")
    with Image.open(io.BytesIO(best.data)) as out:
        assert out.info.get("progressive") == 1
        assert out.tobytes() == decoded(fast.data, "jpeg", "RGB").tobytes()  # same pixels
    assert len(best.data) < len(fast.data)


@pytest.mark.parametrize("fmt", ["webp", "avif"])
@pytest.mark.parametrize("quality", [60, "auto:medium"], ids=["fixed", "auto"])
def test_every_effort_writes_a_valid_file_of_the_format(fmt: Format, quality: Quality) -> None:
    needs(fmt)
    data = png(photo())
    outputs: dict[Effort, bytes] = {}
    for effort in EFFORTS:
        result = compress(data, quality, max_pixels=LIMIT, format=fmt, effort=effort)
        Image.open(io.BytesIO(result.data), formats=[FORMATS[fmt][0]]).verify()
        out = decoded(result.data, fmt, "RGB")
        assert out.size == photo().size and result.format == fmt
        outputs[effort] = result.data
    assert len(set(outputs.values())) > 1  # the effort does reach the codec


@pytest.mark.parametrize("effort", EFFORTS)
def test_every_effort_reaches_the_level(effort: Effort) -> None:
    source = photo()
    result = compress(png(source), "auto:high", max_pixels=LIMIT, effort=effort)
    assert whole_score(source, result.data, "jpeg") >= LEVELS["high"]


# --- what a fixed-quality compressor loads --------------------------------------------------------


def test_fixed_quality_never_loads_numpy_or_the_metric() -> None:
    """compress() imports the perceptual search for `auto` only: a compressor serving fixed
    qualities (the default) keeps the 23 MiB of numpy and the metric out of its memory."""
    program = (
        "import sys; from compressor import handler; from compressor.compress import compress; "
        f"compress(open({str(SAMPLES / 'cat_chelsea_451x300.jpg')!r}, 'rb').read(), 50, "
        "max_pixels=10**7, max_bytes=20000); "
        "print(sorted(m for m in ('numpy', 'compressor.levels') if m in sys.modules)); "
        "compress(open(sys.argv[1], 'rb').read(), 'auto:medium', max_pixels=10**7); "
        "print('numpy' in sys.modules)"
    )
    run = subprocess.run(
        [sys.executable, "-c", program, str(SAMPLES / "cat_chelsea_451x300.jpg")],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    assert run.stdout.split("\n")[:2] == ["[]", "True"], run.stderr
