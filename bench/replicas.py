"""Benchmark 4b, compressor replicas: the same backlog drained by 1 and then by 2 processes.

With the compressor stopped, a request's originals are fetched and their events queue up;
then N compressor processes (same command and environment as the stack's) are started and
the rate is taken between the first and the last compressed object (the object store's own
write times), so process start-up is not counted.
"""

import asyncio
from dataclasses import dataclass

from bench import procs
from bench.corpus import CorpusImage
from bench.pipeline import corpus_urls, make_csv
from bench.servers import Servers
from bench.stackrun import mongo, queue_depth, session, tap, upload, wait_until
from deploy.local.stack import Stack
from shared.names import COMPRESSED_BUCKET, ORIGINAL_STORED

FUNCTION = "compressor"


@dataclass(frozen=True)
class ReplicaRun:
    replicas: int
    images: int
    drain_s: float  # first to last compressed object
    compressor_cpu_s: float
    machine_cpu_s: float  # every core's busy time meanwhile

    @property
    def images_per_s(self) -> float:
        return (self.images - 1) / self.drain_s if self.drain_s > 0 else 0.0


async def _one(
    stack: Stack, servers: Servers, images: list[CorpusImage], count: int, replicas: int
) -> ReplicaRun:
    urls = corpus_urls(servers, images, count, first=200_000 + 10_000 * replicas)
    async with tap(stack) as seen, session(stack) as http:
        request_id = await upload(http, stack, make_csv(urls))

        async def backlog() -> bool:
            return await queue_depth(stack, ORIGINAL_STORED.name) >= count

        await wait_until(backlog, "every original to be stored", 600, every=0.2)
        before = procs.CpuSnapshot.take(stack.procs)
        started = [stack.add_replica(FUNCTION) for _ in range(replicas)]
        with mongo(stack) as client:
            requests = client["imgpipe"]["requests"]

            async def finished() -> bool:
                doc = await asyncio.to_thread(requests.find_one, {"_id": request_id})
                return doc is not None and doc["done"] + doc["failed"] >= count

            await wait_until(finished, "the backlog to drain", 900, every=0.1)
        used = procs.CpuSnapshot.take(stack.procs).since(before)
        await asyncio.sleep(0.2)
    times = sorted(
        s.event_time
        for s in seen.of(COMPRESSED_BUCKET)
        if s.metadata.get("request-id") == request_id
    )
    for name in started:
        stack.kill(name)
    return ReplicaRun(
        replicas=replicas,
        images=len(times),
        drain_s=times[-1] - times[0] if len(times) > 1 else 0.0,
        compressor_cpu_s=sum(v for k, v in used.items() if procs.function_of(k) == FUNCTION),
        machine_cpu_s=used.get(procs.MACHINE, 0.0),
    )


async def run(
    stack: Stack, servers: Servers, images: list[CorpusImage], count: int
) -> list[ReplicaRun]:
    """1 then 2 replicas; the stack gets its single compressor back afterwards."""
    stack.kill(FUNCTION)
    try:
        return [await _one(stack, servers, images, count, n) for n in (1, 2)]
    finally:
        stack.add_replica(FUNCTION)
