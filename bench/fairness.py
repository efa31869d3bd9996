"""Benchmark 10, fairness between tenants (issue 14): does one tenant's big request hold back
another tenant's small one?

A small request (a few corpus URLs, tenant `bench`) is timed from upload to webhook on an idle
stack; then a big request of another tenant (`bench-big`) is uploaded, and once a tenth of it
is compressed (so its backlog has had time to build up wherever it builds up), the same kind
of small request, on new URLs, is timed again. Every URL serves its own bytes
(bench/servers.py), so nothing is revalidated or reused. The compressor's queue depth is taken
as the second small request is uploaded, and the big request's finished images as its webhook
arrives: how much of the big request the small one overtook.
"""

import asyncio
import time
from dataclasses import dataclass

from bench.corpus import CorpusImage
from bench.pipeline import corpus_urls, make_csv
from bench.servers import Servers
from bench.stackrun import api_key, mongo, queue_depth, session, upload, wait_until
from deploy.local.stack import Stack
from shared.names import ORIGINAL_STORED

FIRST = 2_000_000  # URL numbers no other benchmark uses
BIG_TENANT = "bench-big"


@dataclass(frozen=True)
class FairnessResult:
    small_images: int
    big_images: int
    idle_s: float  # the small request, upload → webhook, nothing else running
    contended_s: float  # the same, uploaded while the big request was running
    compressor_queue: int  # originals waiting for the compressor at the contended upload
    big_finished_before: int  # the big request's images finished at the contended upload
    big_finished_after: int  # … and when the small request's webhook arrived
    big_s: float  # the big request, upload → webhook

    @property
    def ratio(self) -> float:
        """How many times longer the small request took beside the big one."""
        return self.contended_s / self.idle_s if self.idle_s > 0 else 0.0


async def _timed(stack: Stack, servers: Servers, urls: list[str]) -> float:
    """Upload `urls` as the small tenant; seconds until the webhook."""
    async with session(stack) as http:
        start = time.time()
        request_id = await upload(http, stack, make_csv(urls), webhook_url=servers.hook_url)

    async def hooked() -> float | None:
        return servers.hook_for(request_id)

    end: float = await wait_until(hooked, "the small request's webhook", 600, every=0.02)
    return end - start


async def run(
    stack: Stack, servers: Servers, images: list[CorpusImage], small: int, big: int
) -> FairnessResult:
    api_key(stack, BIG_TENANT)  # made now, before anything is timed
    idle_s = await _timed(stack, servers, corpus_urls(servers, images, small, FIRST))
    async with session(stack, BIG_TENANT) as http:
        start = time.time()
        urls = corpus_urls(servers, images, big, FIRST + 100_000)
        big_id = await upload(http, stack, make_csv(urls), webhook_url=servers.hook_url)
    with mongo(stack) as client:
        requests = client["imgpipe"]["requests"]

        async def finished() -> int:
            doc = await asyncio.to_thread(requests.find_one, {"_id": big_id})
            return 0 if doc is None else int(doc["done"]) + int(doc["failed"])

        async def a_tenth_done() -> bool:
            return await finished() >= max(big // 10, 1)

        await wait_until(a_tenth_done, "a tenth of the big request", 600, every=0.1)
        depth = await queue_depth(stack, ORIGINAL_STORED.name)
        before = await finished()
        contended_s = await _timed(
            stack, servers, corpus_urls(servers, images, small, FIRST + 1_000)
        )
        after = await finished()

    async def big_hooked() -> float | None:
        return servers.hook_for(big_id)

    big_end: float = await wait_until(big_hooked, "the big request's webhook", 1800, every=0.1)
    return FairnessResult(
        small_images=small,
        big_images=big,
        idle_s=idle_s,
        contended_s=contended_s,
        compressor_queue=depth,
        big_finished_before=before,
        big_finished_after=after,
        big_s=big_end - start,
    )
