"""Benchmark 9, re-runs (issue 14): the same 1,000-URL CSV uploaded again, then with 10 % of
its images replaced at the same URLs.

Every URL serves its own bytes (a corpus JPEG made unique, bench/servers.py), with an
ETag. The first upload downloads and compresses everything; the second should revalidate every
URL (304) and reuse every output (no codec work); the third should download and compress
exactly the replaced tenth. Each run's wall time (upload → webhook) and the compressor's CPU
are measured, and the status's `revalidated` / `reused` per image are counted.
"""

import time
from dataclasses import dataclass

from bench import dbwrites, procs
from bench.corpus import CorpusImage
from bench.pipeline import make_csv
from bench.servers import Servers
from bench.stackrun import gateway, mongo, session, upload, wait_until
from deploy.local.stack import Stack


@dataclass(frozen=True)
class RerunStep:
    label: str
    wall_s: float
    compressor_cpu_s: float
    downloaded: int  # 200s the origin served during the step
    not_modified: int  # 304s
    reused: int  # images whose output was copied
    revalidated: int
    done: int
    db_writes: dict[str, int]  # documents written meanwhile, by "collection op" (bench/dbwrites.py)

    def writes_per_image(self) -> float:
        return sum(self.db_writes.values()) / self.done if self.done else 0.0


@dataclass(frozen=True)
class RerunResult:
    urls: int
    changed: int
    steps: list[RerunStep]


async def _one(stack: Stack, servers: Servers, urls: list[str], label: str) -> RerunStep:
    served, not_modified = servers.served, servers.not_modified
    before = procs.CpuSnapshot.take(stack.procs)
    db = mongo(stack)
    written = dbwrites.mark(db)
    async with session(stack) as http:
        start = time.time()
        request_id = await upload(http, stack, make_csv(urls), webhook_url=servers.hook_url)

        async def hooked() -> float | None:
            return servers.hook_for(request_id)

        end: float = await wait_until(hooked, "the webhook", 600, every=0.02)
        used = procs.grouped(procs.CpuSnapshot.take(stack.procs).since(before))
        writes = dbwrites.count_since(db, stack, written)
        db.close()
        images = []
        offset = 0
        while True:
            params = {"offset": str(offset), "limit": "1000"}
            url = f"{gateway(stack)}/api/status/{request_id}"
            async with http.get(url, params=params) as r:
                body = await r.json()
            images += [i for p in body["products"] for i in p["images"]]
            if body["products_page"]["next_offset"] is None:
                break
            offset = body["products_page"]["next_offset"]
    return RerunStep(
        label,
        end - start,
        used.get("compressor", 0.0),
        servers.served - served,
        servers.not_modified - not_modified,
        sum(bool(i["reused"]) for i in images),
        sum(bool(i["revalidated"]) for i in images),
        sum(i["status"] == "done" for i in images),
        writes,
    )


async def run(stack: Stack, servers: Servers, images: list[CorpusImage], count: int) -> RerunResult:
    jpegs = [image for image in images if image.name.endswith(".jpg")]
    first = 1_000_000  # URL numbers no other benchmark used
    urls = [servers.url(first + n, jpegs[n % len(jpegs)].name) for n in range(count)]
    steps = [await _one(stack, servers, urls, "first upload")]
    steps.append(await _one(stack, servers, urls, "the same CSV again"))
    changed = set(range(first, first + count, 10))  # every tenth URL: another image there
    servers.changed |= changed
    steps.append(await _one(stack, servers, urls, "again, 10 % of the images replaced"))
    return RerunResult(count, len(changed), steps)
