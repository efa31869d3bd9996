"""Benchmark 10, fairness between tenants (issues 13 and 14): does one tenant's big request
hold back another tenant's small one?

A small request (a few corpus URLs, tenant `bench`) is timed from upload to webhook on an idle
stack; then a big request of another tenant (`bench-big`) is uploaded, and once a tenth of it
(at most HEAD_START images) is compressed (so its backlog has had time to build up wherever it
builds up), the same kind of small request, on new URLs, is timed again. A big request of a
million URLs is not run to its end: once its fan-out is done it is left to the benchmarks after
(the scale benchmark stops the fetcher and empties the fetch queues first). Every URL serves
its own bytes (bench/servers.py), so nothing is revalidated or reused. The compressor's queue
depth is taken as the second small request is uploaded, the big request's finished images
as its webhook arrives, and the big request's images compressed while the small one's were
at the compressor (first original stored → last compressed): those it waited behind.
"""

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from pymongo.collection import Collection

from bench.corpus import CorpusImage
from bench.pipeline import corpus_urls, make_csv
from bench.servers import Servers
from bench.stackrun import api_key, mongo, queue_depth, session, upload, wait_until
from deploy.local.stack import Stack
from shared.names import ORIGINAL_STORED

FIRST = 2_000_000  # URL numbers no other benchmark uses (the run beside a million: 3,000,000)
BIG_TENANT = "bench-big"
HEAD_START = 300  # the big request's images finished before the small one is uploaded, at most


@dataclass(frozen=True)
class FairnessResult:
    small_images: int
    big_images: int
    idle_s: float  # the small request, upload → webhook, nothing else running
    contended_s: float  # the same, uploaded while the big request was running
    compressor_queue: int  # originals waiting for the compressor at the contended upload
    big_finished_before: int  # the big request's images finished at the contended upload
    big_finished_after: int  # … and when the small request's webhook arrived
    big_s: float | None  # the big request, upload → webhook (None: not run to its end)
    # The big request's images compressed from the small one's first original stored to its
    # last compressed: those its images waited behind at the compressor.
    big_ahead: int | None = None

    @property
    def ratio(self) -> float:
        """How many times longer the small request took beside the big one."""
        return self.contended_s / self.idle_s if self.idle_s > 0 else 0.0


async def _timed(stack: Stack, servers: Servers, urls: list[str]) -> tuple[float, str]:
    """Upload `urls` as the small tenant; seconds until the webhook, and the request's id."""
    async with session(stack) as http:
        start = time.time()
        request_id = await upload(http, stack, make_csv(urls), webhook_url=servers.hook_url)

    async def hooked() -> float | None:
        return servers.hook_for(request_id)

    end: float = await wait_until(hooked, "the small request's webhook", 600, every=0.02)
    return end - start, request_id


def _waited_behind(images: Collection[dict[str, Any]], big_id: str, small_id: str) -> int:
    """The big request's images compressed while the small one's were at the compressor: from
    its first original stored to its last image compressed (the images' own moments)."""
    moments = [doc.get("moments", {}) for doc in images.find({"request_id": small_id})]
    stored = [m["original_stored"] for m in moments if "original_stored" in m]
    compressed = [m["compressed"] for m in moments if "compressed" in m]
    if not stored or not compressed:
        return 0
    window = {"$gt": min(stored), "$lte": max(compressed)}
    return images.count_documents({"request_id": big_id, "moments.compressed": window})


async def run(
    stack: Stack,
    servers: Servers,
    images: list[CorpusImage],
    small: int,
    big: int,
    first: int = FIRST,
    to_the_end: bool = True,
) -> FairnessResult:
    """`first`: the URL numbers this run takes from; `to_the_end`: wait for the big request's
    webhook (else only for its fan-out, and leave it running)."""
    api_key(stack, BIG_TENANT)  # made now, before anything is timed
    idle_s, _ = await _timed(stack, servers, corpus_urls(servers, images, small, first))
    async with session(stack, BIG_TENANT) as http:
        start = time.time()
        urls = corpus_urls(servers, images, big, first + 100_000)
        big_id = await upload(http, stack, make_csv(urls), webhook_url=servers.hook_url)
        del urls
    with mongo(stack) as client:
        requests = client["imgpipe"]["requests"]

        async def finished() -> int:
            doc = await asyncio.to_thread(requests.find_one, {"_id": big_id})
            return 0 if doc is None else int(doc["done"]) + int(doc["failed"])

        async def a_tenth_done() -> bool:
            return await finished() >= min(max(big // 10, 1), HEAD_START)

        await wait_until(a_tenth_done, "a head start of the big request", 600, every=0.1)
        depth = await queue_depth(stack, ORIGINAL_STORED.name)
        before = await finished()
        contended_s, small_id = await _timed(
            stack, servers, corpus_urls(servers, images, small, first + 1_000)
        )
        after = await finished()
        await asyncio.sleep(1.0)  # the big images compressed by then are recorded too
        ahead = await asyncio.to_thread(
            _waited_behind, client["imgpipe"]["images"], big_id, small_id
        )

        async def fanned_out() -> bool:
            doc = await asyncio.to_thread(requests.find_one, {"_id": big_id})
            return doc is not None and doc.get("fanned_out") is True

        if not to_the_end:
            await wait_until(fanned_out, "the big request's fan-out", 1800, every=0.5)

    async def big_hooked() -> float | None:
        return servers.hook_for(big_id)

    big_end = None
    if to_the_end:
        big_end = await wait_until(big_hooked, "the big request's webhook", 1800, every=0.1)
    return FairnessResult(
        small_images=small,
        big_images=big,
        idle_s=idle_s,
        contended_s=contended_s,
        compressor_queue=depth,
        big_finished_before=before,
        big_finished_after=after,
        big_s=None if big_end is None else big_end - start,
        big_ahead=ahead,
    )
