"""compressor/ssimulacra2.py agrees with the PyPI package ssimulacra2 0.3.0 (the reference).

Every case is an (original, distorted) pair; `score` and `Reference(original).score` must both
be within TOL of the reference's score:
- corpus: every corpus file, prepared as the compressor prepares it (tests/imagesets.py),
  × JPEG q20, q50, q80 and WebP q50, decoded back in the source's mode (L stays L);
- graphics: the generated graphics × the same four encodings;
- noisy: noisy corpus crops × JPEG q20/q50/q80, and each clean crop vs itself plus noise;
- edge: tiny and odd sizes (1 to 5 of the metric's scales), greyscale, identical, inverted,
  shifted, blurred and flat images, a grey original vs an RGB candidate (a sample-data photo,
  so they run without the corpus).
The corpus and noisy cases are skipped, with a reason, when the corpus (../shared/corpus,
outside the repo) is absent.

The reference takes 1-2 s of CPU per megapixel, so its scores are cached in
ssimulacra2_reference.json, keyed by case id and the SHA-256 of both images: a case whose
pixels changed (new Pillow, corpus, generator) or that is new is recomputed with the
reference during the run (slow but correct) and not written back. Write them back with

    python -m tests.unit.compressor.test_ssimulacra2 --fill

which computes the missing and stale entries (and drops those of cases that no longer exist).
"""

import argparse
import functools
import hashlib
import io
import json
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image, ImageFilter
from ssimulacra2 import compute_ssimulacra2

from compressor import ssimulacra2 as fast
from tests import imagesets

REPO = Path(__file__).resolve().parents[3]
SAMPLES = REPO / "sample-data" / "images"
CORPUS = REPO.parent / "shared" / "corpus"
NO_CORPUS = f"corpus not found at {CORPUS} (it lives outside the repo, in ../shared/corpus)"
CACHE = Path(__file__).resolve().with_name("ssimulacra2_reference.json")
TOL = 1.0  # score points; the fast metric is within 0.003 of the reference on every case
EDGE_SOURCE = "cat_chelsea_451x300.jpg"  # sample-data: a detailed photo, always present

U8 = NDArray[np.uint8]
Pair = tuple[U8, U8]


# --- images ---------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=2)
def corpus_image(name: str) -> U8:
    return imagesets.to_array(imagesets.prepare(CORPUS / name))


@functools.lru_cache(maxsize=2)
def graphic(name: str) -> U8:
    return imagesets.to_array(imagesets.GRAPHICS[name]())


@functools.lru_cache(maxsize=1)
def noisy_set() -> tuple[dict[str, U8], dict[str, U8]]:
    """(clean crops, noisy crops), by imagesets' keys."""
    clean = imagesets.noisy_sources(CORPUS)
    noisy = imagesets.noisy(CORPUS)
    return (
        {k: imagesets.to_array(v) for k, v in clean.items()},
        {k: imagesets.to_array(v) for k, v in noisy.items()},
    )


def noisy_crop(name: str, clean: bool = False) -> U8:
    return noisy_set()[0 if clean else 1][name]


@functools.lru_cache(maxsize=1)
def edge_photo() -> U8:
    return imagesets.to_array(imagesets.prepare(SAMPLES / EDGE_SOURCE))


def edge_source(h: int, w: int, grey: bool = False, seed: int = 0) -> U8:
    """A photo-like patch of the given size: a 300x200 crop of the sample photo, resampled."""
    src = edge_photo()
    y0, x0 = (0, 50, 100)[seed % 3], 20 + 40 * seed
    patch = Image.fromarray(src[y0 : y0 + 200, x0 : x0 + 300])
    if grey:
        patch = patch.convert("L")
    return imagesets.to_array(patch.resize((w, h), Image.Resampling.LANCZOS))


def roundtrip(a: U8, fmt: str, quality: int) -> U8:
    """Encoded with Pillow and decoded back, in the input's mode (L stays L)."""
    im = Image.fromarray(a)
    buf = io.BytesIO()
    im.save(buf, fmt, quality=quality)
    buf.seek(0)
    with Image.open(buf) as dec:
        return imagesets.to_array(dec.convert(im.mode))


def add_noise(a: U8, sigma: float, seed: int) -> U8:
    return imagesets.to_array(imagesets.add_noise(Image.fromarray(a), sigma, seed))


def blur(a: U8, radius: float) -> U8:
    return imagesets.to_array(Image.fromarray(a).filter(ImageFilter.GaussianBlur(radius)))


def shifted(a: U8, delta: int) -> U8:
    return np.clip(a.astype(np.int16) + delta, 0, 255).astype(np.uint8)


# --- cases ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    set: str
    name: str
    source: str  # names the original: cases sharing it share one `fast.Reference`
    original: Callable[[], U8]
    distort: Callable[[U8], U8]

    @property
    def id(self) -> str:
        return f"{self.set}/{self.name}"

    def build(self) -> Pair:
        a = self.original()
        return a, self.distort(a)


DISTORTIONS = (("JPEG", 20), ("JPEG", 50), ("JPEG", 80), ("WEBP", 50))

EDGE_SHAPES = [
    (17, 333, False),
    (333, 17, False),
    (8, 8, False),
    (9, 9, False),
    (11, 13, False),
    (12, 12, False),
    (13, 13, False),
    (14, 14, False),
    (15, 15, False),
    (16, 16, False),
    (8, 300, False),
    (300, 8, False),
    (31, 33, False),
    (63, 65, False),
    (127, 129, False),
    (255, 257, True),
    (17, 333, True),
    (8, 8, True),
    (16, 16, True),
    (480, 640, True),
]


def _encoded(fmt: str, quality: int) -> Callable[[U8], U8]:
    return functools.partial(roundtrip, fmt=fmt, quality=quality)


def corpus_cases() -> Iterator[Case]:
    for name in imagesets.corpus_names(CORPUS):
        get = functools.partial(corpus_image, name)
        for fmt, q in DISTORTIONS:
            yield Case("corpus", f"{name}:{fmt.lower()}{q}", name, get, _encoded(fmt, q))


def graphics_cases() -> Iterator[Case]:
    for name in imagesets.GRAPHICS:
        get = functools.partial(graphic, name)
        for fmt, q in DISTORTIONS:
            yield Case("graphics", f"{name}:{fmt.lower()}{q}", name, get, _encoded(fmt, q))


def noisy_cases() -> Iterator[Case]:
    present = set(imagesets.corpus_names(CORPUS))
    for i, file in enumerate(imagesets.NOISY_SOURCES):
        if file not in present:
            continue
        name = imagesets.noisy_name(i)
        get = functools.partial(noisy_crop, name)
        for q in (20, 50, 80):
            yield Case("noisy", f"{name}:jpeg{q}", name, get, _encoded("JPEG", q))
        sigma = imagesets.noisy_sigma(i)
        yield Case(
            "noisy",
            f"{name}:clean_vs_noise{sigma:g}",
            f"{name}-clean",
            functools.partial(noisy_crop, name, True),
            functools.partial(add_noise, sigma=sigma, seed=200 + i),
        )


def edge_cases() -> Iterator[Case]:
    for k, (h, w, grey) in enumerate(EDGE_SHAPES):
        get = functools.partial(edge_source, h, w, grey, k % 4)
        tag = f"{h}x{w}{'_L' if grey else ''}"
        yield Case("edge", f"{tag}:jpeg50", tag, get, _encoded("JPEG", 50))
        noise = functools.partial(add_noise, sigma=10.0, seed=k)
        yield Case("edge", f"{tag}:noise10", tag, get, noise)
        if k % 3 == 0:
            yield Case("edge", f"{tag}:jpeg20", tag, get, _encoded("JPEG", 20))
            yield Case("edge", f"{tag}:blur1.5", tag, get, functools.partial(blur, radius=1.5))
    photo = functools.partial(edge_source, 200, 300, False, 1)
    for name, distort in (
        ("identical", np.copy),
        ("inverted", lambda a: 255 - a),
        ("shift+12", functools.partial(shifted, delta=12)),
        ("blur3", functools.partial(blur, radius=3.0)),
        ("noise40", functools.partial(add_noise, sigma=40.0, seed=7)),
    ):
        yield Case("edge", f"200x300:{name}", "200x300", photo, distort)
    flat = functools.partial(np.full, (64, 96, 3), 128, dtype=np.uint8)
    yield Case("edge", "64x96:flat_vs_flat", "64x96", flat, functools.partial(shifted, delta=3))
    noise = functools.partial(add_noise, sigma=8.0, seed=3)
    yield Case("edge", "64x96:flat_vs_noise", "64x96", flat, noise)
    yield Case(
        "edge",
        "120x160:grey_vs_rgb_jpeg",
        "120x160_L",
        functools.partial(edge_source, 120, 160, True, 2),
        lambda a: roundtrip(np.repeat(a[:, :, None], 3, axis=2), "JPEG", 40),
    )


CASES = [*corpus_cases(), *graphics_cases(), *noisy_cases(), *edge_cases()]
BY_ID = {case.id: case for case in CASES}


def params(cases: list[Case], missing: str) -> list[object]:
    if not cases:
        return [pytest.param(None, id=missing, marks=pytest.mark.skip(reason=NO_CORPUS))]
    return [pytest.param(case, id=case.id) for case in cases]


AGREEMENT_PARAMS = [
    *params([c for c in CASES if c.set == "corpus"], "corpus/no-corpus"),
    *params([c for c in CASES if c.set == "graphics"], "graphics/none"),
    *params([c for c in CASES if c.set == "noisy"], "noisy/no-corpus"),
    *params([c for c in CASES if c.set == "edge"], "edge/none"),
]


# --- reference scores, cached ---------------------------------------------------------------------


def digest(a: U8) -> str:
    h = hashlib.sha256(f"{a.shape}|{a.dtype}".encode())
    h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:24]


def reference_score(a: U8, b: U8) -> float:
    """The PyPI package's score; it reads only files, so it gets lossless PNGs."""
    files = []
    for pixels in (a, b):
        buf = io.BytesIO()
        Image.fromarray(pixels).save(buf, "PNG", compress_level=1)
        buf.seek(0)
        files.append(buf)
    return float(compute_ssimulacra2(files[0], files[1]))


class ReferenceScores:
    """The cache file: {case id: {"ref": digest, "dist": digest, "score": float, "shape"}}."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: dict[str, dict[str, object]] = (
            json.loads(path.read_text()) if path.is_file() else {}
        )
        self.computed = 0

    def cached(self, case_id: str, a: U8, b: U8) -> float | None:
        """The cached score, if there is one for exactly these pixels."""
        entry = self.entries.get(case_id)
        if entry is None or entry.get("ref") != digest(a) or entry.get("dist") != digest(b):
            return None
        score = entry["score"]
        assert isinstance(score, float)
        return score

    def get(self, case_id: str, a: U8, b: U8) -> float:
        """The cached score, or the reference's (computed now and kept in memory)."""
        score = self.cached(case_id, a, b)
        if score is None:
            score = reference_score(a, b)
            self.entries[case_id] = {
                "ref": digest(a),
                "dist": digest(b),
                "score": score,
                "shape": list(a.shape),
            }
            self.computed += 1
        return score

    def save(self) -> None:
        """Write the entries of today's cases, and those of sets that cannot be built here
        (the corpus's, without the corpus)."""
        here = {case.set for case in CASES}
        entries = {
            k: v
            for k, v in sorted(self.entries.items())
            if k in BY_ID or k.split("/", 1)[0] not in here
        }
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(entries, indent=1) + "\n")
        tmp.replace(self.path)


@pytest.fixture(scope="module")
def reference_scores() -> ReferenceScores:
    return ReferenceScores(CACHE)


@functools.lru_cache(maxsize=1)
def fast_reference(case_set: str, source: str) -> fast.Reference:
    """One `Reference` per original, reused by its cases (they are collected in order)."""
    case = next(c for c in CASES if (c.set, c.source) == (case_set, source))
    return fast.Reference(case.original())


# --- agreement ------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", AGREEMENT_PARAMS)
def test_agreement(case: Case, reference_scores: ReferenceScores) -> None:
    a, b = case.build()
    expected = reference_scores.get(case.id, a, b)
    got = fast.score(a, b)
    reused = fast_reference(case.set, case.source).score(b)
    assert abs(got - expected) <= TOL, f"{case.id}: score {got:.4f}, reference {expected:.4f}"
    assert abs(reused - expected) <= TOL, (
        f"{case.id}: Reference().score {reused:.4f}, reference {expected:.4f}"
    )


def test_the_cases_cover_every_set_and_the_cache_holds_them() -> None:
    """Every case that can run here has a cached entry (else run --fill: see the docstring)."""
    sets = {case.set for case in CASES}
    assert {"graphics", "edge"} <= sets
    assert len([c for c in CASES if c.set == "graphics"]) == 4 * len(imagesets.GRAPHICS)
    if imagesets.corpus_names(CORPUS):
        assert {"corpus", "noisy"} <= sets
    cached = json.loads(CACHE.read_text()) if CACHE.is_file() else {}
    missing = sorted(set(BY_ID) - set(cached))
    assert not missing, f"{len(missing)} cases without a cached reference score: {missing[:5]}"


# --- the API --------------------------------------------------------------------------------------


REUSE = [
    c
    for c in CASES
    if (c.set == "edge" and c.name.split(":")[0] in ("17x333", "8x8_L", "15x15"))
    or (c.set == "graphics" and c.name.startswith("pixel_art:"))
]


@pytest.mark.parametrize("case", REUSE, ids=[c.id for c in REUSE])
def test_reference_reuse_is_identical(case: Case) -> None:
    a, b = case.build()
    ref = fast.Reference(a)
    first = ref.score(b)
    assert first == pytest.approx(fast.score(a, b), abs=1e-3)  # float32 sums in another order
    assert ref.score(b) == first  # reusable: no state carried between calls
    assert ref.score(a) == 100.0


def test_reference_mixed_grey_and_rgb() -> None:
    grey = edge_source(120, 160, True, 2)
    rgb = roundtrip(np.repeat(grey[:, :, None], 3, axis=2), "JPEG", 40)
    grey_dist = roundtrip(grey, "JPEG", 40)
    assert fast.Reference(grey).score(rgb) == pytest.approx(fast.score(grey, rgb), abs=1e-3)
    assert fast.Reference(rgb).score(grey) == pytest.approx(fast.score(rgb, grey), abs=1e-3)
    # A grey pair scores as the same pair as R=G=B colour images (X and B terms are exactly 0).
    as_rgb = np.repeat(grey[:, :, None], 3, axis=2), np.repeat(grey_dist[:, :, None], 3, axis=2)
    assert fast.score(grey, grey_dist) == pytest.approx(fast.score(*as_rgb), abs=1e-3)


@pytest.mark.parametrize(
    "shape", [(7, 7, 3), (1, 100, 3), (100, 1), (7, 500, 3), (500, 7), (1, 1)], ids=str
)
def test_too_small_raises(shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, shape, dtype=np.uint8)
    b = rng.integers(0, 256, shape, dtype=np.uint8)
    # The reference does not refuse these: its scale loop runs zero times, so any pair, however
    # different, "scores" a perfect 100.0. We refuse instead (as libjxl's tool does).
    assert reference_score(a, b) == 100.0
    with pytest.raises(ValueError, match="at least 8x8"):
        fast.score(a, b)
    with pytest.raises(ValueError, match="at least 8x8"):
        fast.Reference(a)


def test_bad_inputs_raise() -> None:
    a = np.zeros((20, 20, 3), np.uint8)
    with pytest.raises(ValueError, match="same height and width"):
        fast.score(a, np.zeros((20, 21, 3), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        fast.score(a, np.zeros((20, 20, 3), np.float32))
    with pytest.raises(ValueError, match="HxW or HxWx3"):
        fast.score(a, np.zeros((20, 20, 4), np.uint8))
    with pytest.raises(ValueError, match="same height and width"):
        fast.Reference(a).score(np.zeros((21, 20, 3), np.uint8))


def test_concurrent_use_of_one_reference() -> None:
    a = edge_photo()
    candidates = [roundtrip(a, "JPEG", q) for q in (20, 40, 60, 80)]
    ref = fast.Reference(a)
    alone = [ref.score(c) for c in candidates]
    with ThreadPoolExecutor(max_workers=2) as pool:
        assert list(pool.map(ref.score, candidates * 2)) == alone * 2


def test_non_contiguous_input() -> None:
    big = edge_photo()
    a = big[::2, 1::3]
    b = roundtrip(np.ascontiguousarray(a), "JPEG", 40)
    assert fast.score(a, b) == pytest.approx(fast.score(np.ascontiguousarray(a), b), abs=1e-9)
    bgr = big[:, :, ::-1]
    assert fast.score(bgr, bgr) == 100.0
    assert fast.Reference(a).score(b) == pytest.approx(fast.Reference(a.copy()).score(b), abs=1e-9)


# --- command line: fill the cache -----------------------------------------------------------------


def fill(path: Path = CACHE) -> None:
    """Compute the missing and stale reference scores of the cases this machine can build."""
    scores = ReferenceScores(path)
    todo = []
    for case in CASES:
        a, b = case.build()
        if scores.cached(case.id, a, b) is None:
            todo.append(case)
    print(f"{len(todo)} of {len(CASES)} reference scores to compute", flush=True)
    for i, case in enumerate(todo, 1):
        value = scores.get(case.id, *case.build())
        print(f"[{i}/{len(todo)}] {case.id}: {value:.4f}", flush=True)
        if i % 10 == 0:
            scores.save()
    scores.save()


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m tests.unit.compressor.test_ssimulacra2",
        description="Fill ssimulacra2_reference.json with the reference package's scores.",
    )
    parser.add_argument("--fill", action="store_true", help="compute the missing and stale entries")
    args = parser.parse_args(argv)
    if not args.fill:
        parser.print_help()
        return
    fill()


if __name__ == "__main__":
    main(sys.argv[1:])
