"""Benchmark 2, pipeline throughput: a CSV of corpus image URLs through the whole local stack.

Upload → webhook, with every process's CPU measured over the same interval, so the report can
say how much of the machine went to our functions and how much to the stand-in servers.
"""

import asyncio
import csv
import io
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench import procs
from bench.corpus import CorpusImage
from bench.profile import Profiler
from bench.servers import Servers
from bench.stackrun import mongo, session, upload, wait_until
from deploy.local.stack import Stack


@dataclass(frozen=True)
class PipelineResult:
    urls: int
    megapixels: float
    wall_s: float
    done: int
    failed: int
    cpu_s: dict[str, float]  # per function / stand-in, over the run
    peak_rss_mib: dict[str, float]
    profile: dict[str, list[tuple[str, float]]] = field(default_factory=dict)

    @property
    def images_per_s(self) -> float:
        return self.urls / self.wall_s

    def cpu_of(self, names: tuple[str, ...]) -> float:
        return sum(self.cpu_s.get(name, 0.0) for name in names)


def make_csv(urls: list[str], per_row: int = 1) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["S. No.", "Product Name", "Input Image Urls"])
    for row, start in enumerate(range(0, len(urls), per_row), 1):
        writer.writerow([row, f"product {row}", ",".join(urls[start : start + per_row])])
    return out.getvalue().encode()


def corpus_urls(
    servers: Servers, images: list[CorpusImage], count: int, first: int = 0
) -> list[str]:
    """`count` distinct URLs cycling through the corpus (so the mix matches benchmark 1)."""
    return [servers.url(n, images[n % len(images)].name) for n in range(first, first + count)]


async def run_request(
    stack: Stack, servers: Servers, urls: list[str], within: float
) -> tuple[str, float]:
    """Upload the URLs with a webhook; returns (request id, seconds until the webhook)."""
    async with session(stack) as http:
        start = time.time()
        request_id = await upload(http, stack, make_csv(urls), webhook_url=servers.hook_url)

        async def hooked() -> float | None:
            return servers.hook_for(request_id)

        end: float = await wait_until(hooked, "the webhook", within, every=0.02)
    return request_id, end - start


async def run(
    stack: Stack,
    servers: Servers,
    images: list[CorpusImage],
    count: int,
    profile_dir: Path | None = None,
    within: float = 600.0,
    first: int = 0,
) -> PipelineResult:
    urls = corpus_urls(servers, images, count, first)
    for pid in stack.procs.values():
        procs.reset_peak_rss(pid)
    profiler = Profiler(stack, profile_dir) if profile_dir is not None else None
    if profiler is not None:
        profiler.start()
    before = procs.CpuSnapshot.take(stack.procs)
    request_id, wall = await run_request(stack, servers, urls, within)
    used = procs.CpuSnapshot.take(stack.procs).since(before)
    profile = profiler.stop() if profiler is not None else {}
    with mongo(stack) as client:
        request = await asyncio.to_thread(
            client["imgpipe"]["requests"].find_one, {"_id": request_id}
        )
    assert request is not None
    return PipelineResult(
        urls=count,
        megapixels=sum(images[n % len(images)].megapixels for n in range(count)),
        wall_s=wall,
        done=int(request["done"]),
        failed=int(request["failed"]),
        cpu_s=procs.grouped(used),
        peak_rss_mib={
            name: procs.peak_rss_mib(pid)
            for name, pid in stack.procs.items()
            if procs.function_of(name) in procs.OURS
        },
        profile=profile,
    )
