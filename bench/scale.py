"""Benchmark 4a, scale: a 100,000-URL CSV, with the fetcher stopped so only ingest's fan-out
is measured; then the peak memory of every function and a status query on that request.

Meanwhile a person's reads are polled (issue 16): the request's status (`limit=1`, as the
web page's first poll), the request list and /readyz, each timed; the slowest is reported.
"""

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path

import aio_pika
import aiohttp

from bench import procs
from bench.pipeline import make_csv
from bench.profile import Profiler
from bench.servers import Servers
from bench.stackrun import gateway, mongo, queue_depth, session, upload, wait_until
from deploy.local.stack import Stack
from shared.events import FetchBatch
from shared.names import FETCH_BULK_REQUESTED, FETCH_REQUESTED, ORIGINAL_STORED

# Busier than this (cores, of the whole machine) and something else is still running: an idle
# stack and its servers use about 0.1.
QUIET_CORES = 0.3
PER_ROW = 2  # 50,000 rows for 100,000 URLs: inside the default row limit
# A request this big goes to one of the bulk lanes (which one depends on what else is open).
FETCH_QUEUES = tuple(spec.name for spec in (FETCH_REQUESTED, *FETCH_BULK_REQUESTED))


async def _quiet() -> bool:
    return await procs.busy_cores() < QUIET_CORES


@dataclass(frozen=True)
class ScaleResult:
    request_id: str  # left processing, its fetches dropped (the page benchmark opens it)
    urls: int
    csv_bytes: int
    accepted_s: float  # upload answered 202
    published_s: float  # upload sent → ingest recorded its fan-out done (every fetch confirmed)
    peak_rss_mib: dict[str, float]
    status_s: float
    status_bytes: int
    status_code: int
    cpu_s: dict[str, float] = field(default_factory=dict)  # per process, upload → published
    # Upload sent → ingest seen done checking the CSV, and saving its rows (polled: ± 0.05 s).
    checked_s: float | None = None
    saved_s: float | None = None
    # The slowest answer to each read polled during the fan-out, and how many were made.
    slowest_read_s: dict[str, float] = field(default_factory=dict)
    reads: int = 0
    profile: dict[str, list[tuple[str, float]]] = field(default_factory=dict)

    @property
    def urls_per_s(self) -> float:
        return self.urls / self.published_s


async def run(
    stack: Stack,
    servers: Servers,
    count: int,
    profile_dir: Path | None = None,
    within: float | None = None,
) -> ScaleResult:
    # Long enough for the fan-out at a quarter of its speed on these machines (a million URLs
    # take over a quarter of an hour at 1,000 a second).
    within = within or max(900.0, count / 250)
    if "fetcher" in stack.procs:  # a second fan-out finds it stopped by the first
        stack.kill("fetcher")
    urls = [f"{servers.base}/i/{n}/scale.jpg" for n in range(count)]
    csv = make_csv(urls, PER_ROW)
    connection = await aio_pika.connect(stack.config.amqp_url)
    async with connection, session(stack) as http:
        channel = await connection.channel()
        # What an earlier benchmark left to fetch (a million-URL request not run to its end)
        # is dropped, and the originals fetched meanwhile compressed, before anything is timed.
        for name in FETCH_QUEUES:
            await (await channel.get_queue(name, ensure=False)).purge()

        async def compressor_idle() -> bool:
            return await queue_depth(stack, ORIGINAL_STORED.name) == 0

        await wait_until(compressor_idle, "the compressor's queue to drain", within)
        # …and the images still in hand finished: a fan-out timed beside an earlier
        # benchmark's tail measures that tail (it held a core of two in make bench).
        await wait_until(_quiet, "the machine to go quiet", within)
        for pid in stack.procs.values():  # peaks from here: the fan-out's
            procs.reset_peak_rss(pid)

        requests = mongo(stack)["imgpipe"]["requests"]

        fan_out = ("gateway", "ingest")
        profiler = Profiler(stack, profile_dir, fan_out) if profile_dir is not None else None
        before = procs.CpuSnapshot.take(stack.procs)
        if profiler is not None:
            profiler.start()
        start = time.monotonic()
        request_id = await upload(http, stack, csv)
        accepted = time.monotonic() - start

        # When ingest was seen to finish each pass: checked (the header is recorded after the
        # checking pass and the tenant's limits) and saved (processing once rows are written).
        passes: dict[str, float] = {}

        async def all_published() -> bool:
            doc = await asyncio.to_thread(requests.find_one, {"_id": request_id})
            if doc is None:
                return False
            if "header" in doc:
                passes.setdefault("checked", time.monotonic() - start)
            if doc.get("status") != "pending":
                passes.setdefault("saved", time.monotonic() - start)
            return doc.get("fanned_out") is True

        times: dict[str, list[float]] = {}
        reads = asyncio.create_task(_poll_reads(http, stack, request_id, times))
        try:
            await wait_until(all_published, f"the fan-out of {count} URLs", within, every=0.05)
        finally:
            reads.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reads
        published = time.monotonic() - start
        cpu = procs.grouped(procs.CpuSnapshot.take(stack.procs).since(before))
        profile = profiler.stop() if profiler is not None else {}
        await asyncio.sleep(0.5)
        peaks = {
            name: procs.peak_rss_mib(pid)
            for name, pid in stack.procs.items()
            if procs.function_of(name) in procs.OURS
        }
        start = time.monotonic()
        timeout = aiohttp.ClientTimeout(total=within)
        url = f"{gateway(stack)}/api/status/{request_id}"
        async with http.get(url, timeout=timeout) as response:
            body = await response.read()
            status_code = response.status
        status_s = time.monotonic() - start
        queued = 0
        for name in FETCH_QUEUES:
            queue = await channel.get_queue(name, ensure=False)
            while (message := await queue.get(fail=False, no_ack=True)) is not None:
                batch = FetchBatch.decode(message.body)
                queued += sum(f.request_id == request_id for f in batch.fetches)
        requests.database.client.close()
    if queued != count:
        raise RuntimeError(f"{queued} fetches queued for {count} URLs")
    return ScaleResult(
        request_id=request_id,
        urls=count,
        csv_bytes=len(csv),
        accepted_s=accepted,
        published_s=published,
        peak_rss_mib=peaks,
        status_s=status_s,
        status_bytes=len(body),
        status_code=status_code,
        cpu_s=cpu,
        checked_s=passes.get("checked"),
        saved_s=passes.get("saved"),
        profile=profile,
        slowest_read_s={name: max(samples) for name, samples in times.items()},
        reads=sum(len(samples) for samples in times.values()),
    )


async def _poll_reads(
    http: aiohttp.ClientSession, stack: Stack, request_id: str, times: dict[str, list[float]]
) -> None:
    """Time the reads people and dashboards make, one after another, until cancelled."""
    base = gateway(stack)
    reads = {
        "status (limit=1)": f"{base}/api/status/{request_id}?limit=1",
        "request list": f"{base}/api/requests?limit=20",
        "/readyz": f"{base}/readyz",
    }
    while True:
        for name, url in reads.items():
            started = time.monotonic()
            async with http.get(url) as response:
                await response.read()
            times.setdefault(name, []).append(time.monotonic() - started)
        await asyncio.sleep(0.25)
