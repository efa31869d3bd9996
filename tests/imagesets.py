"""Deterministic image sets for the tests and the benchmarks: plain functions returning PIL images.

- `graphics()`: generated synthetic images (8-bit RGB) where photo-tuned codecs and metrics are
  at their weakest: flat colour blocks, black and coloured text, gradients with a grey ramp, a
  dashboard mock-up, 1-px checkerboards, a bar chart, nearest-upscaled pixel art, and dense
  1-px coloured lines on white (whose score 4:2:0 chroma caps, so a search must fall back to
  full chroma). They need no files: the SSIMULACRA2 agreement test and the quality search's tests
  run them everywhere.
- `noisy(corpus_dir)`: crops of corpus photos with seeded Gaussian noise (sigma 4, 12 and 25;
  one greyscale, mode L), the hardest case for a perceptual metric; `noisy_sources` gives the
  same crops without noise. Both are empty when the corpus is absent.
- `prepare(source)`: a corpus file (path or bytes) as the compressor encodes it, done with the
  compressor's own code (`compressor.compress.decode` and `prepare`: first frame, upright,
  transparency on white, 8-bit L or RGB, sRGB), then capped at 4 MP with LANCZOS (`cap`) so a
  test or a benchmark stays affordable. `corpus_names(corpus_dir)` lists the corpus's files.

Everything is seeded or drawn, so the pixels (and the SHA-256 digests the reference-score cache
of tests/unit/compressor/test_ssimulacra2.py is keyed by) change only with the code, Pillow's
default font or the corpus.
"""

import csv
import io
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFont

from compressor.compress import decode
from compressor.compress import prepare as prepare_for_encoding

MAX_PIXELS = 4_000_000  # the cap of prepared corpus images (`cap`)
DECODE_LIMIT = 100_000_000  # far above any corpus file: `decode`'s own refusal never applies
SIGMAS = (4.0, 12.0, 25.0)  # noise of the `noisy` crops, in turn
NOISY_SOURCES = (
    "coffee_600x400.jpg",
    "sunset_1920x1280.jpg",
    "interior_portrait_1080x1619.jpg",
    "mountains_1632x1224.webp",
    "hubble_deep_field_1000x872.jpg",
    "camera_gray_512.jpg",  # greyscale: its crop stays mode L
)
CROP = (512, 384)  # width, height of the `noisy` crops (smaller images give all of theirs)

U8 = NDArray[np.uint8]

LOREM = (
    "The quick brown fox jumps over the lazy dog 0123456789",
    "Sphinx of black quartz, judge my vow! (ÄÖÜ äöü ß) {}[]<>",
    "imgpipe: compress.py --quality 72 --max-pixels 40000000",
    "Pack my box with five dozen liquor jugs; #@$%^&*_+=~",
)


# --- corpus files, prepared as the compressor prepares them -------------------------------------


def cap(im: Image.Image, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """`im` reduced (LANCZOS, aspect kept) to at most `max_pixels`; `im` itself if it fits."""
    w, h = im.size
    if w * h <= max_pixels:
        return im
    f = math.sqrt(max_pixels / (w * h))
    return im.resize((max(1, int(w * f)), max(1, int(h * f))), Image.Resampling.LANCZOS)


def prepare(source: Path | bytes, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """A file as compress() encodes it (8-bit L or RGB, upright, sRGB, no alpha, no info),
    then capped at `max_pixels`."""
    data = source.read_bytes() if isinstance(source, Path) else source
    im, icc = decode(data, DECODE_LIMIT)
    out = prepare_for_encoding(im, icc)
    out.info.clear()  # as compress() does: nothing of the source's may reach an encoder
    return cap(out, max_pixels)


def corpus_names(corpus_dir: Path) -> list[str]:
    """The corpus's files, sorted, as its MANIFEST.csv lists them; [] without the corpus."""
    manifest = corpus_dir / "MANIFEST.csv"
    if not manifest.is_file():
        return []
    with manifest.open(newline="", encoding="utf-8") as f:
        return sorted(row["file"] for row in csv.DictReader(f))


# --- noisy photos ---------------------------------------------------------------------------------


def add_noise(im: Image.Image, sigma: float, seed: int) -> Image.Image:
    """`im` plus Gaussian noise of `sigma` (8-bit levels), rounded and clipped, seeded."""
    a = np.asarray(im)
    rng = np.random.default_rng(seed)
    noisy_pixels = np.clip(a + rng.normal(0.0, sigma, a.shape), 0, 255).round().astype(np.uint8)
    return Image.fromarray(noisy_pixels)


def _crop(im: Image.Image) -> Image.Image:
    w, h = im.size
    cw, ch = min(CROP[0], w), min(CROP[1], h)
    x0, y0 = (w - cw) // 2, (h - ch) // 3
    return im.crop((x0, y0, x0 + cw, y0 + ch))


def noisy_name(index: int) -> str:
    """The key of NOISY_SOURCES[index]'s crop: its file's first word and the index."""
    return f"{NOISY_SOURCES[index].split('_')[0]}{index}"


def noisy_sources(corpus_dir: Path) -> dict[str, Image.Image]:
    """The clean crops `noisy` adds its noise to, by the same keys; {} without the corpus."""
    names = set(corpus_names(corpus_dir))
    return {
        noisy_name(i): _crop(prepare(corpus_dir / source))
        for i, source in enumerate(NOISY_SOURCES)
        if source in names
    }


def noisy(corpus_dir: Path) -> dict[str, Image.Image]:
    """Corpus crops plus Gaussian noise: crop i gets sigma `noisy_sigma(i)`, seed 100 + i."""
    clean = noisy_sources(corpus_dir)
    return {
        noisy_name(i): add_noise(clean[noisy_name(i)], noisy_sigma(i), seed=100 + i)
        for i in range(len(NOISY_SOURCES))
        if noisy_name(i) in clean
    }


def noisy_sigma(index: int) -> float:
    """The noise of NOISY_SOURCES[index]'s crop."""
    return SIGMAS[index % len(SIGMAS)]


# --- generated graphics ---------------------------------------------------------------------------


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def g_flat_blocks() -> Image.Image:
    rng = np.random.default_rng(11)
    im = Image.new("RGB", (800, 600), (240, 240, 240))
    d = ImageDraw.Draw(im)
    for _ in range(40):
        x0, y0 = int(rng.integers(0, 760)), int(rng.integers(0, 560))
        x1, y1 = x0 + int(rng.integers(8, 300)), y0 + int(rng.integers(8, 200))
        fill = tuple(int(v) for v in rng.integers(0, 256, 3))
        d.rectangle((x0, y0, x1, y1), fill=fill)
    return im


def g_text_black() -> Image.Image:
    im = Image.new("RGB", (800, 600), "white")
    d = ImageDraw.Draw(im)
    y = 6
    for i, size in enumerate((10, 12, 14, 16, 20, 24, 32, 11, 13, 18, 28, 40)):
        d.text((8, y), LOREM[i % 4], fill="black", font=_font(size))
        y += size + 8
    return im


def g_text_colour() -> Image.Image:
    im = Image.new("RGB", (640, 480), (30, 60, 140))
    d = ImageDraw.Draw(im)
    colours = [(255, 220, 0), (255, 255, 255), (255, 80, 80), (120, 255, 120), (0, 0, 0)]
    y = 10
    for i in range(14):
        size = 12 + (i % 5) * 4
        d.text((10 + (i % 3) * 7, y), LOREM[i % 4], fill=colours[i % 5], font=_font(size))
        d.line((10, y + size + 3, 600, y + size + 3), fill=colours[(i + 2) % 5], width=1)
        y += size + 12
    return im


def g_gradients() -> Image.Image:
    h, w = 512, 1024
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    r = xx / (w - 1) * 255
    g = yy / (h - 1) * 255
    b = 255 * (0.5 + 0.5 * np.cos(np.hypot(xx - w / 2, yy - h / 2) / 40))
    out = np.stack([r, g, b], axis=2)
    out[:, : w // 4] = xx[:, : w // 4, None] / (w / 4) * 255  # grey ramp
    return Image.fromarray(out.round().astype(np.uint8))


def g_ui_mockup() -> Image.Image:
    im = Image.new("RGB", (1024, 768), (250, 250, 252))
    d = ImageDraw.Draw(im)
    d.rectangle((0, 0, 1023, 36), fill=(45, 45, 48))
    d.text((12, 8), "imgpipe - Dashboard", fill="white", font=_font(16))
    for i, c in enumerate([(255, 95, 86), (255, 189, 46), (39, 201, 63)]):
        d.ellipse((940 + i * 26, 10, 956 + i * 26, 26), fill=c)
    d.rectangle((0, 37, 200, 767), fill=(236, 238, 242))
    for i in range(12):
        d.text((16, 52 + i * 30), f"Menu item {i + 1}", fill=(40, 40, 40), font=_font(14))
        d.line((8, 76 + i * 30, 192, 76 + i * 30), fill=(210, 212, 218))
    for j in range(3):
        for i in range(4):
            x, y = 220 + i * 198, 60 + j * 230
            d.rounded_rectangle(
                (x, y, x + 184, y + 210), radius=8, outline=(200, 200, 205), fill="white"
            )
            d.rectangle(
                (x + 10, y + 10, x + 174, y + 110), fill=((i * 60) % 256, (j * 90) % 256, 200)
            )
            d.text((x + 10, y + 120), f"Card {j * 4 + i}", fill="black", font=_font(18))
            d.text((x + 10, y + 148), "status: ok  q=72", fill=(90, 90, 90), font=_font(12))
            d.rectangle((x + 10, y + 176, x + 90, y + 200), fill=(0, 120, 215))
            d.text((x + 22, y + 180), "Open", fill="white", font=_font(13))
    return im


def g_checker_lines() -> Image.Image:
    """Checkerboards of 1, 2, 4 and 8 px, and 1-px cyan and navy lines on white."""
    h, w = 512, 512
    yy, xx = np.mgrid[0:h, 0:w]
    a = np.zeros((h, w, 3), np.uint8)
    for k, period in enumerate((1, 2, 4, 8)):
        sl = slice(k * 128, (k + 1) * 128)
        a[sl, :256] = (((xx[sl, :256] // period + yy[sl, :256] // period) % 2) * 255)[..., None]
    a[:, 256:] = 255
    for i in range(0, 256, 6):
        a[:, 256 + i, 0] = 0  # 1-px vertical red-free lines
    a[((xx - yy) % 17 == 0) & (xx >= 256)] = (0, 0, 160)
    return Image.fromarray(a)


def g_chart() -> Image.Image:
    im = Image.new("RGB", (800, 500), "white")
    d = ImageDraw.Draw(im)
    d.line((60, 20, 60, 450), fill="black", width=2)
    d.line((60, 450, 780, 450), fill="black", width=2)
    rng = np.random.default_rng(5)
    vals = rng.uniform(40, 400, 12)
    for i, v in enumerate(vals):
        x = 80 + i * 58
        d.rectangle((x, 450 - int(v), x + 40, 449), fill=(70 + i * 12, 130, 220 - i * 10))
        d.text((x + 4, 456), f"M{i + 1}", fill="black", font=_font(12))
    pts = [(80 + i * 58 + 20, 450 - int(v * 0.8) - 20) for i, v in enumerate(vals)]
    d.line(pts, fill=(220, 30, 30), width=3)
    for y in range(50, 450, 50):
        d.line((56, y, 780, y), fill=(225, 225, 225))
        d.text((8, y - 7), f"{(450 - y) * 2}", fill="black", font=_font(12))
    return im


def g_pixel_art() -> Image.Image:
    rng = np.random.default_rng(9)
    palette = rng.integers(0, 256, (8, 3), dtype=np.uint8)
    small = palette[rng.integers(0, 8, (40, 40))]
    return Image.fromarray(np.repeat(np.repeat(small, 12, axis=0), 12, axis=1))


def g_colour_lines() -> Image.Image:
    """Dense 1-px lines in saturated colours on white (a wiring diagram, a plot's thin traces):
    4:2:0 chroma smears their colour, so a 4:2:0 JPEG scores below 0 at every quality."""
    w, h = 512, 384
    colours = [(255, 0, 0), (0, 160, 0), (0, 0, 255), (255, 0, 255), (230, 120, 0), (0, 170, 200)]
    a = np.full((h, w, 3), 255, np.uint8)
    for k, x in enumerate(range(5, w, 9)):
        a[:, x] = colours[k % len(colours)]
    for k, y in enumerate(range(7, h, 13)):
        a[y, :] = colours[(k + 3) % len(colours)]
    im = Image.fromarray(a)
    d = ImageDraw.Draw(im)
    for k in range(8):
        d.line((0, 40 * k, w - 1, 40 * k + 150), fill=colours[(k + 1) % len(colours)], width=1)
    return im


GRAPHICS: dict[str, Callable[[], Image.Image]] = {
    "flat_blocks": g_flat_blocks,
    "text_black": g_text_black,
    "text_colour": g_text_colour,
    "gradients": g_gradients,
    "ui_mockup": g_ui_mockup,
    "checker_lines": g_checker_lines,
    "chart": g_chart,
    "pixel_art": g_pixel_art,
    "colour_lines": g_colour_lines,
}


def graphics() -> dict[str, Image.Image]:
    """Every generated graphic, 8-bit RGB, by name (0.2-0.8 MP each)."""
    return {name: build() for name, build in GRAPHICS.items()}


def to_array(im: Image.Image) -> U8:
    """The pixels as a writable uint8 array (HxW for L, HxWx3 for RGB)."""
    return np.array(im, dtype=np.uint8)


def to_png(im: Image.Image) -> bytes:
    """Lossless file bytes of `im`, to hand to compress() (which prepares them unchanged)."""
    out = io.BytesIO()
    im.save(out, "PNG", compress_level=1)
    return out.getvalue()
