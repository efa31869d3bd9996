"""The bodies the suite's origin serves: good images, damaged ones, and things that are not images.

All are made here from code (or cut from sample-data), so each case states exactly what it is.
"""

import io
import struct
import zlib
from functools import cache
from pathlib import Path

from PIL import Image

SAMPLES = Path(__file__).resolve().parents[2] / "sample-data" / "images"
GOOD_JPEG = "cat_chelsea_451x300.jpg"

Payload = tuple[bytes, str]  # (body, Content-Type header)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_claiming(width: int, height: int, pixel_data: bytes | None = None) -> bytes:
    """An 8-bit greyscale PNG whose header says `width`×`height`.

    `pixel_data` is the compressed IDAT; by default 64 zero bytes, far fewer than claimed.
    """
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", pixel_data or zlib.compress(b"\0" * 64, 9))
        + _png_chunk(b"IEND", b"")
    )


def _save(im: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    im.save(out, fmt, **options)
    return out.getvalue()


def huge_png() -> bytes:
    """A complete, valid black 8001×8000 PNG: 64,008,000 pixels, just over the 64 MP cap."""
    width, height = 8001, 8000
    row = b"\0" * (1 + width)  # filter byte 0, then the row's pixels
    packer = zlib.compressobj(9)
    pixel_data = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    return png_claiming(width, height, pixel_data)


def corrupt_png() -> bytes:
    """A real PNG (signature and header intact) whose compressed pixel data is scrambled."""
    data = bytearray(_save(Image.linear_gradient("L").resize((300, 200)).convert("RGB"), "PNG"))
    start = data.index(b"IDAT") + 4 + 16  # keep the zlib header, break the stream after it
    for i in range(start, len(data) - 16):
        data[i] ^= 0x5A
    return bytes(data)


def grey16_png() -> bytes:
    """A 16-bit greyscale PNG, 256×64: each column x holds x × 257 (0 … 65535)."""
    raw = b"".join(struct.pack("<H", x * 257) for _ in range(64) for x in range(256))
    return _save(Image.frombytes("I;16", (256, 64), raw), "PNG")


def animated_gif() -> bytes:
    """Two 64×48 frames: red, then blue."""
    red = Image.new("RGB", (64, 48), (255, 0, 0))
    blue = Image.new("RGB", (64, 48), (0, 0, 255))
    return _save(red, "GIF", save_all=True, append_images=[blue], duration=100, loop=0)


def gif_of_frames(count: int) -> bytes:
    """`count` 2×2 frames, red and blue in turn (Pillow merges identical neighbours)."""
    frames = [Image.new("P", (2, 2), i % 2) for i in range(count)]
    for frame in frames:
        frame.putpalette([255, 0, 0, 0, 0, 255])
    return _save(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=20, loop=0)


SVG = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100">'
    b'<circle cx="50" cy="50" r="40" fill="red"/></svg>\n'
)
HTML = (
    b"<!DOCTYPE html>\n<html><head><title>Photo gallery</title></head>"
    b"<body><img src='cat.jpg'></body></html>\n"
)


@cache
def payloads() -> dict[str, Payload]:
    """Every body the origin serves at /img/NAME, by NAME."""
    good = (SAMPLES / GOOD_JPEG).read_bytes()
    return {
        "good.jpg": (good, "image/jpeg"),
        "jpeg-as-text.txt": (good, "text/plain"),
        "page.html": (HTML, "text/html"),
        "truncated.jpg": (good[: len(good) // 2], "image/jpeg"),
        "empty.jpg": (b"", "image/jpeg"),
        "bomb.png": (png_claiming(100_000, 100_000), "image/png"),
        "corrupt.png": (corrupt_png(), "image/png"),
        "cmyk.jpg": (_save(Image.new("CMYK", (120, 80), (0, 255, 255, 0)), "JPEG"), "image/jpeg"),
        "grey16.png": (grey16_png(), "image/png"),
        "animated.gif": (animated_gif(), "image/gif"),
        "frames-10000.gif": (gif_of_frames(10_000), "image/gif"),
        "huge.png": (huge_png(), "image/png"),
        "drawing.svg": (SVG, "image/svg+xml"),
    }
