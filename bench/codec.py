"""Benchmark 1, the codec limit: decode + re-encode in a loop, one process per core.

Two loops over the same images, side by side in one run:
- `bare`: Pillow decode, the minimal mode conversion JPEG needs, `save(quality=50)` and nothing
  else (the seed's encoder) — the ceiling any JPEG pipeline on this machine works against;
- `compress`: our `compressor.compress.compress()` as shipped (upright, flatten, sRGB, tuned
  encoder, never-larger check) — what the compressor function does per image, minus its I/O.
"""

import io
import multiprocessing
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image

from bench.corpus import CorpusImage
from compressor.compress import compress

QUALITY = 50
MAX_PIXELS = 64_000_000


@dataclass(frozen=True)
class CodecResult:
    loop: str
    processes: int
    images: int
    megapixels: float
    wall_s: float
    cpu_s: float

    @property
    def images_per_s(self) -> float:
        return self.images / self.wall_s

    @property
    def mp_per_s(self) -> float:
        return self.megapixels / self.wall_s

    @property
    def cpu_ms_per_image(self) -> float:
        return 1000 * self.cpu_s / self.images


def bare(data: bytes) -> int:
    with Image.open(io.BytesIO(data)) as im:
        im.load()
        frame = im if im.mode in ("L", "RGB") else im.convert("RGB")
        out = io.BytesIO()
        frame.save(out, "JPEG", quality=QUALITY)
    return out.tell()


def ours(data: bytes) -> int:
    return len(compress(data, QUALITY, max_pixels=MAX_PIXELS).data)


LOOPS: dict[str, Callable[[bytes], int]] = {"bare": bare, "compress": ours}


def _worker(args: tuple[str, list[bytes], int]) -> tuple[int, float]:
    """Run the loop `rounds` times over the images; returns (images done, CPU seconds)."""
    loop, images, rounds = args
    encode = LOOPS[loop]
    start = time.process_time()
    done = 0
    for _ in range(rounds):
        for data in images:
            encode(data)
            done += 1
    return done, time.process_time() - start


def run(
    images: list[CorpusImage], loop: str, rounds: int, processes: int | None = None
) -> CodecResult:
    """`processes` workers (default: one per core) each run `rounds` passes over `images`."""
    processes = processes or os.cpu_count() or 1
    payload = [image.data for image in images]
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        pool.map(_worker, [(loop, payload[:1], 1)] * processes)  # warm up the workers
        start = time.perf_counter()
        results = pool.map(_worker, [(loop, payload, rounds)] * processes)
        wall = time.perf_counter() - start
    megapixels = sum(image.megapixels for image in images) * rounds * processes
    return CodecResult(
        loop=loop,
        processes=processes,
        images=sum(done for done, _ in results),
        megapixels=megapixels,
        wall_s=wall,
        cpu_s=sum(cpu for _, cpu in results),
    )
