"""Benchmark 4b, compressor replicas: the same backlog drained by 1 and then by 2 processes.

With the compressor stopped, a request's originals are fetched and their events queue up;
then N compressor processes (same command and environment as the stack's) are started and
the rate is taken between the first and the last compressed object (the object store's own
write times), so process start-up is not counted.

Two rounds of 1 and 2: replicas free to use every core (one replica already keeps both of a
2-core machine busy), then each replica pinned to a core of its own (CPU affinity, which the
compressor sizes its codec threads by), which is how replicas on more cores would scale.
"""

import asyncio
import os
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
    pinned: bool  # each replica on a core of its own
    images: int
    drain_s: float  # first to last compressed object
    compressor_cpu_s: float
    machine_cpu_s: float  # every core's busy time meanwhile

    @property
    def images_per_s(self) -> float:
        return (self.images - 1) / self.drain_s if self.drain_s > 0 else 0.0


def _start(stack: Stack, core: int | None) -> str:
    """One compressor replica, limited to `core` if given (the child inherits the affinity)."""
    if core is None:
        return stack.add_replica(FUNCTION)
    everything = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {core})
    try:
        return stack.add_replica(FUNCTION)
    finally:
        os.sched_setaffinity(0, everything)


async def _one(
    stack: Stack,
    servers: Servers,
    images: list[CorpusImage],
    count: int,
    replicas: int,
    pinned: bool,
) -> ReplicaRun:
    first = 200_000 + 10_000 * replicas + 100_000 * pinned
    urls = corpus_urls(servers, images, count, first=first)
    async with tap(stack) as seen, session(stack) as http:
        request_id = await upload(http, stack, make_csv(urls))

        async def backlog() -> bool:
            return await queue_depth(stack, ORIGINAL_STORED.name) >= count

        await wait_until(backlog, "every original to be stored", 600, every=0.2)
        before = procs.CpuSnapshot.take(stack.procs)
        cores = sorted(os.sched_getaffinity(0))
        started = [
            _start(stack, cores[n % len(cores)] if pinned else None) for n in range(replicas)
        ]
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
        pinned=pinned,
        images=len(times),
        drain_s=times[-1] - times[0] if len(times) > 1 else 0.0,
        compressor_cpu_s=sum(v for k, v in used.items() if procs.function_of(k) == FUNCTION),
        machine_cpu_s=used.get(procs.MACHINE, 0.0),
    )


async def run(
    stack: Stack, servers: Servers, images: list[CorpusImage], count: int
) -> list[ReplicaRun]:
    """1 then 2 replicas, free and then pinned; the stack gets its compressor back afterwards."""
    stack.kill(FUNCTION)
    try:
        return [
            await _one(stack, servers, images, count, n, pinned)
            for pinned in (False, True)
            for n in (1, 2)
        ]
    finally:
        stack.add_replica(FUNCTION)
