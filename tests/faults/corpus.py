"""The images the origin serves: the repository's sample photos plus small generated ones.

Generated images are distinct (seeded shapes and colours, JPEG and PNG, various sizes), so a
CSV of hundreds of URLs never has two with the same content, as in a real catalogue.
"""

import io
import random
from pathlib import Path

from PIL import Image, ImageDraw

SAMPLE_IMAGES = Path(__file__).resolve().parents[2] / "sample-data" / "images"
_TYPES = {".jpg": "image/jpeg", ".png": "image/png", ".webp": "image/webp"}


class Corpus:
    """Image name → (bytes, content type), all in memory."""

    def __init__(self) -> None:
        self._images: dict[str, tuple[bytes, str]] = {}

    @property
    def samples(self) -> list[str]:
        return sorted(n for n in self._images if not n.startswith("gen-"))

    @property
    def generated(self) -> list[str]:
        return sorted(n for n in self._images if n.startswith("gen-"))

    def get(self, name: str) -> tuple[bytes, str]:
        return self._images[name]

    def add_samples(self, folder: Path = SAMPLE_IMAGES) -> None:
        for path in sorted(folder.iterdir()):
            if path.suffix in _TYPES:
                self._images[path.name] = (path.read_bytes(), _TYPES[path.suffix])

    def generate(self, count: int, seed: int = 4) -> None:
        """`count` distinct small images, every third one a PNG (some with transparency)."""
        rng = random.Random(seed)
        for n in range(count):
            png = n % 3 == 0
            name = f"gen-{n:04d}.{'png' if png else 'jpg'}"
            self._images[name] = (_draw(rng, png), _TYPES[".png" if png else ".jpg"])


def _draw(rng: random.Random, png: bool) -> bytes:
    size = (rng.randrange(96, 420), rng.randrange(96, 420))
    mode = "RGBA" if png and rng.random() < 0.5 else "RGB"
    image = Image.new(mode, size, _colour(rng))
    draw = ImageDraw.Draw(image)
    for _ in range(rng.randrange(4, 14)):
        box = (
            sorted(rng.randrange(size[0]) for _ in range(2)),
            sorted(rng.randrange(size[1]) for _ in range(2)),
        )
        shape = [box[0][0], box[1][0], box[0][1], box[1][1]]
        if rng.random() < 0.5:
            draw.ellipse(shape, fill=_colour(rng))
        else:
            draw.rectangle(shape, fill=_colour(rng))
    out = io.BytesIO()
    if png:
        image.save(out, "PNG")
    else:
        image.save(out, "JPEG", quality=rng.randrange(80, 96))
    return out.getvalue()


def _colour(rng: random.Random) -> tuple[int, int, int]:
    return (rng.randrange(256), rng.randrange(256), rng.randrange(256))
