"""The images every benchmark uses: ../shared/corpus plus the repository's sample images.

Files are deduplicated by content (the samples are copies of corpus files), so each distinct
image counts once. Without the corpus (a clone without ../shared) the samples alone are used.
"""

import hashlib
import io
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"
SAMPLES = ROOT / "sample-data" / "images"
SUFFIXES = (".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff")
CONTENT_TYPES = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".bmp": "image/bmp",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
}


@dataclass(frozen=True)
class CorpusImage:
    name: str
    data: bytes

    @cached_property
    def size(self) -> tuple[int, int]:
        with Image.open(io.BytesIO(self.data)) as im:
            return im.size

    @property
    def megapixels(self) -> float:
        width, height = self.size
        return width * height / 1e6

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[Path(self.name).suffix.lower()]


def load(folders: tuple[Path, ...] = (CORPUS, SAMPLES)) -> list[CorpusImage]:
    """Every distinct image in `folders` (missing folders are skipped), sorted by name."""
    seen: set[str] = set()
    images: list[CorpusImage] = []
    for folder in folders:
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() not in SUFFIXES:
                continue
            data = path.read_bytes()
            digest = hashlib.sha256(data).hexdigest()
            if digest not in seen:
                seen.add(digest)
                images.append(CorpusImage(path.name, data))
    return sorted(images, key=lambda image: image.name)


def source_description(folders: tuple[Path, ...] = (CORPUS, SAMPLES)) -> str:
    present = [os.path.relpath(f, ROOT) for f in folders if f.is_dir()]
    return " + ".join(present) or "nothing (no images found)"
