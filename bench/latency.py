"""Benchmark 3, hop latency: single-image requests one after another on an idle stack.

Every timestamp comes from outside the product code: the object store's own write time of
each object (bucket events carry it, to the millisecond), the moment the benchmark's tap saw
each fetch message, and the notifier's `finished_at` on the image in MongoDB. A hop therefore
runs from one recorded moment to the next and includes the work of the function in between;
the product records no "started" times (see the report for the list it should record).
"""

import asyncio
import statistics
from dataclasses import dataclass

from bench.corpus import CorpusImage
from bench.pipeline import corpus_urls, make_csv
from bench.servers import Servers
from bench.stackrun import Seen, mongo, session, tap, upload, wait_until
from deploy.local.stack import Stack
from shared.names import COMPRESSED_BUCKET, FETCH_ROUTING_KEY, INBOX_BUCKET, ORIGINALS_BUCKET

# (name, what it spans) in pipeline order.
HOPS = (
    ("CSV written → fetch message published", "ingest: read CSV, write rows, publish"),
    ("fetch message → original written", "fetcher: queue, download, PUT"),
    ("original written → compressed written", "compressor: event, GET, compress, PUT"),
    ("compressed written → image finished", "notifier: event, MongoDB writes"),
    ("object written → event on the broker", "event relay (MinIO does this in production)"),
)


@dataclass(frozen=True)
class LatencyResult:
    requests: int
    hops_ms: dict[str, list[float]]  # hop → one sample per image
    images: list[str]  # the image of each sample of the pipeline's hops (not the relay's)

    def percentile(self, hop: str, q: float) -> float:
        values = sorted(self.hops_ms[hop])
        if len(values) == 1:
            return values[0]
        return statistics.quantiles(values, n=100, method="inclusive")[round(q) - 1]


def _for_request(seen: list[Seen], request_id: str) -> list[Seen]:
    return [s for s in seen if s.metadata.get("request-id") == request_id]


async def run(
    stack: Stack, servers: Servers, images: list[CorpusImage], count: int
) -> LatencyResult:
    hops: dict[str, list[float]] = {name: [] for name, _ in HOPS}
    names: list[str] = []
    async with tap(stack) as seen, session(stack) as http:
        with mongo(stack) as client:
            db = client["imgpipe"]
            for n in range(count):
                url = corpus_urls(servers, images, 1, first=100_000 + n)
                image_name = images[(100_000 + n) % len(images)].name
                request_id = await upload(http, stack, make_csv(url))

                async def finished(rid: str = request_id) -> dict[str, object] | None:
                    doc = await asyncio.to_thread(
                        db["images"].find_one, {"request_id": rid, "finished_at": {"$ne": None}}
                    )
                    return doc

                image = await wait_until(finished, f"request {request_id}", 120)
                await asyncio.sleep(0.1)  # the tap's copies of the last events
                inbox = [s for s in seen.of(INBOX_BUCKET) if request_id in s.object_key]
                fetches = [
                    s for s in seen.of(FETCH_ROUTING_KEY) if s.body["request_id"] == request_id
                ]
                originals = _for_request(seen.of(ORIGINALS_BUCKET), request_id)
                compressed = _for_request(seen.of(COMPRESSED_BUCKET), request_id)
                if not (inbox and fetches and originals and compressed):
                    continue  # an image that failed has no compressed object: no sample
                finished_at = image["finished_at"].timestamp()
                moments = (
                    inbox[0].event_time,
                    fetches[0].at,
                    originals[0].event_time,
                    compressed[0].event_time,
                    finished_at,
                )
                for (name, _), a, b in zip(HOPS, moments, moments[1:], strict=False):
                    hops[name].append(1000 * (b - a))
                names.append(image_name)
                relay = [s.at - s.event_time for s in (*inbox, *originals, *compressed)]
                hops[HOPS[-1][0]].extend(1000 * d for d in relay)
    return LatencyResult(count, hops, names)
