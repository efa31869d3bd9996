"""One scenario's CSV: ≥ 300 image URLs on the origin with a realistic mix of misbehaviour.

About 5 % are permanently bad (404, an HTML page, garbage, a JPEG that does not decode), a
few never recover (always 503: given up after the last retry), and the rest succeed, some
only after 5xx answers, connection resets, a cut body or a timeout (build()). good() makes one
of well-behaved URLs only, for runs whose faults are all on the service's side.
"""

import random
from dataclasses import dataclass

from tests.faults.servers import Origin
from tests.integration.client import make_csv

TOTAL = 300


@dataclass(frozen=True)
class Expected:
    """One input URL and how it must end: done, or failed with a reason containing `error`."""

    url: str
    status: str
    error: str = ""


@dataclass(frozen=True)
class Workload:
    tag: str
    rows: list[list[str]]
    images: list[Expected]  # in CSV order (row by row, slot by slot)

    @property
    def csv(self) -> bytes:
        return make_csv(self.rows)

    def expected_for(self, url: str) -> Expected:
        return next(e for e in self.images if e.url == url)


def build(origin: Origin, tag: str, total: int = TOTAL) -> Workload:
    """The scenario's URLs (distinct images), shuffled and grouped into rows of 1–3 URLs."""
    rng = random.Random(tag)
    names = iter(rng.sample(origin.corpus.generated, len(origin.corpus.generated)))

    def url(kind: str, arg: int | str) -> str:
        return origin.url(kind, arg, tag, next(names))

    bad = [
        *(Expected(url("status", 404), "failed", "HTTP 404 Not Found") for _ in range(5)),
        *(
            Expected(url("html", 0), "failed", "not an image (received text/html)")
            for _ in range(4)
        ),
        *(Expected(url("garbage", 0), "failed", "not an image") for _ in range(3)),
        *(Expected(url("fakejpeg", 0), "failed", "") for _ in range(3)),
    ]
    given_up = [
        Expected(url("status", 503), "failed", "HTTP 503 Service Unavailable (after ")
        for _ in range(2)
    ]
    flaky = [
        *(Expected(url("fail", 1 + n % 3), "done") for n in range(15)),
        *(Expected(url("reset", 1 + n % 2), "done") for n in range(4)),
        *(Expected(url("cut", 1), "done") for _ in range(3)),
        *(Expected(url("slowonce", 3500), "done") for _ in range(2)),  # > FETCH_TIMEOUT_S
        *(Expected(url("slow", rng.randrange(50, 600)), "done") for _ in range(10)),
    ]
    samples = [Expected(origin.url("img", 0, tag, name), "done") for name in origin.corpus.samples]
    plain = total - len(bad) - len(given_up) - len(flaky) - len(samples)
    images = [
        *bad,
        *given_up,
        *flaky,
        *samples,
        *(Expected(url("img", 0), "done") for _ in range(plain)),
    ]
    return _grouped(rng, tag, images)


def good(origin: Origin, tag: str, total: int) -> Workload:
    """`total` URLs that all succeed at the first try: the sample photos (when `total` has
    room for them) and distinct generated images, shuffled and grouped like build()'s."""
    rng = random.Random(tag)
    samples = origin.corpus.samples[: max(0, total - 1)]
    names = rng.sample(origin.corpus.generated, total - len(samples))
    images = [Expected(origin.url("img", 0, tag, name), "done") for name in samples + names]
    return _grouped(rng, tag, images)


def _grouped(rng: random.Random, tag: str, images: list[Expected]) -> Workload:
    """The images shuffled and grouped into rows of 1–3 URLs."""
    rng.shuffle(images)
    rows: list[list[str]] = []
    at = 0
    while at < len(images):
        take = min(rng.choice((1, 1, 1, 2, 3)), len(images) - at)
        cell = ", ".join(e.url for e in images[at : at + take])
        rows.append([str(len(rows) + 1), f"{tag} product {len(rows) + 1}", cell])
        at += take
    return Workload(tag, rows, images)
