"""Benchmark 3, hop latency: single-image requests one after another on an idle stack.

The timestamps are the product's own, read back from `GET /api/status` (shared/timeline.py):
when each function started and finished with the image, and when the object store wrote each
object (its bucket event's `eventTime`). A hop runs from an object or message being written to
the next function starting on it; the functions' own work is reported beside the hops. The
benchmark's tap adds one figure the product cannot see: how long the event relay takes to
publish an object's event.
"""

import statistics
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bench.corpus import CorpusImage
from bench.pipeline import corpus_urls, make_csv
from bench.servers import Servers
from bench.stackrun import gateway, session, tap, upload, wait_until
from deploy.local.stack import Stack
from shared.names import COMPRESSED_BUCKET, INBOX_BUCKET, ORIGINALS_BUCKET

# The goal's hops, written → next function starting: (name, what it spans, moments).
HOPS = (
    (
        "CSV written → ingest starts",
        "relay, broker, ingest's queue",
        ("csv_stored", "ingest_started"),
    ),
    ("fetch message → fetcher starts", "broker, fetcher's queue", ("published", "fetch_started")),
    (
        "original written → compressor starts",
        "relay, broker, compressor's queue",
        ("original_stored", "compress_started"),
    ),
    (
        "compressed written → notifier starts",
        "relay, broker, notifier's queue",
        ("compressed_stored", "notify_started"),
    ),
)
# The work in between, for context: (name, moments).
WORK = (
    ("ingest: CSV read, rows written, fetch published", ("ingest_started", "fanned_out")),
    ("fetcher: download", ("fetch_started", "fetched")),
    ("fetcher: PUT original", ("fetched", "original_stored")),
    ("compressor: GET original, compress", ("compress_started", "compressed")),
    ("compressor: PUT compressed", ("compressed", "compressed_stored")),
)
RELAY = "object written → event on the broker"


@dataclass(frozen=True)
class LatencyResult:
    requests: int
    hops_ms: dict[str, list[float]]  # hop, work or RELAY → one sample per image (or object)

    def percentile(self, name: str, q: float) -> float:
        values = sorted(self.hops_ms[name])
        if len(values) == 1:
            return values[0]
        return statistics.quantiles(values, n=100, method="inclusive")[round(q) - 1]


def _ms(timeline: dict[str, str], start: str, end: str) -> float | None:
    if start not in timeline or end not in timeline:
        return None
    delta = datetime.fromisoformat(timeline[end]) - datetime.fromisoformat(timeline[start])
    return delta.total_seconds() * 1000


async def run(
    stack: Stack, servers: Servers, images: list[CorpusImage], count: int
) -> LatencyResult:
    samples: dict[str, list[float]] = {name: [] for name, *_ in (*HOPS, *WORK)}
    samples[RELAY] = []
    async with tap(stack) as seen, session(stack) as http:
        for n in range(count):
            url = corpus_urls(servers, images, 1, first=100_000 + n)
            request_id = await upload(http, stack, make_csv(url))

            async def final(rid: str = request_id) -> dict[str, Any] | None:
                async with http.get(f"{gateway(stack)}/api/status/{rid}") as response:
                    body: dict[str, Any] = await response.json()
                done = body["status"] not in ("pending", "processing")
                return body if done else None

            status = await wait_until(final, f"request {request_id}", 120)
            image = status["products"][0]["images"][0]
            if image["status"] != "done":
                continue  # a failed image has no compressed object: no sample
            # The request's moments and its one image's, on one timeline.
            timeline = {**status["timeline"], **image["timeline"]}
            for name, *_, (start, end) in (*HOPS, *WORK):
                if (ms := _ms(timeline, start, end)) is not None:
                    samples[name].append(ms)
            for bucket in (INBOX_BUCKET, ORIGINALS_BUCKET, COMPRESSED_BUCKET):
                for event in seen.of(bucket):
                    if request_id in event.object_key:
                        samples[RELAY].append(1000 * (event.at - event.event_time))
    return LatencyResult(count, samples)
