"""A local stack of the benchmark's own: free ports, its own RabbitMQ vhost, torn down after.

Also a tap: a private queue bound next to the functions' queues, so the benchmark sees every
bucket event and fetch message (with the time it saw it) without changing any product code.
"""

import asyncio
import shutil
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aio_pika
import aiohttp
import orjson
from aio_pika.abc import AbstractIncomingMessage
from pymongo import MongoClient

from deploy.local.stack import Stack
from deploy.local.testing import running_stack
from shared.names import BUCKET_EVENTS_EXCHANGE, BUCKETS, FETCH_ROUTING_KEY, WORK_EXCHANGE

_KEYS: dict[tuple[int, str], str] = {}  # (id(stack), tenant) → the benchmark's API key
TENANT = "bench"  # the tenant every benchmark's requests belong to, unless it names another
FAILED_LOGS = Path(__file__).resolve().parent.parent / ".stack" / "bench-failed-logs"


@contextmanager
def local_stack(extra_env: dict[str, str] | None = None) -> Iterator[Stack]:
    """Start the whole stack (defaults as in production, reconciler kept out of the way)."""
    # The 100,000-URL request stays unfinished on purpose: no re-issued fetches.
    env = {"STUCK_AFTER_S": "86400", "LOG_LEVEL": "WARNING", **(extra_env or {})}
    with (
        tempfile.TemporaryDirectory(prefix="imgpipe-bench-") as tmp,
        running_stack(Path(tmp), "imgpipe-bench", env) as stack,
    ):
        api_key(stack)  # before any timing
        try:
            yield stack
        except BaseException:
            # The stack's directory goes with it: keep its logs, to see what held a run up.
            shutil.copytree(stack.logs, FAILED_LOGS, dirs_exist_ok=True)
            print(f"bench: the stack's logs are kept in {FAILED_LOGS}", file=sys.stderr)
            raise


def gateway(stack: Stack) -> str:
    return f"http://127.0.0.1:{stack.config.ports.gateway}"


def api_key(stack: Stack, tenant: str = TENANT) -> str:
    """The benchmark's API key for `tenant`, made on first use (call it before timing)."""
    if (id(stack), tenant) not in _KEYS:
        _KEYS[id(stack), tenant] = stack.create_key("benchmarks", tenant)
    return _KEYS[id(stack), tenant]


def session(stack: Stack, tenant: str = TENANT) -> aiohttp.ClientSession:
    """An HTTP client of the gateway, authenticated with the benchmark's key for `tenant`."""
    return aiohttp.ClientSession(headers={"Authorization": f"Bearer {api_key(stack, tenant)}"})


def mongo(stack: Stack) -> MongoClient[dict[str, Any]]:
    url = f"mongodb://127.0.0.1:{stack.config.ports.mongo}/?retryWrites=false"
    return MongoClient(url, tz_aware=True)


async def upload(http: aiohttp.ClientSession, stack: Stack, csv: bytes, **fields: str) -> str:
    """POST the CSV to /api/upload; returns the request id."""
    form = aiohttp.FormData()
    form.add_field("file", csv, filename="bench.csv", content_type="text/csv")
    for name, value in fields.items():
        form.add_field(name, value)
    async with http.post(f"{gateway(stack)}/api/upload", data=form) as response:
        body = await response.json()
        if response.status != 202:
            raise RuntimeError(f"upload refused: {response.status} {body}")
        return str(body["request_id"])


async def wait_until(check: Any, what: str, within: float, every: float = 0.05) -> Any:
    """Poll `check` until it returns something truthy; TimeoutError after `within` s."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if result := await check():
            return result
        await asyncio.sleep(every)
    raise TimeoutError(f"timed out after {within:.0f} s waiting for {what}")


@dataclass(frozen=True)
class Seen:
    """One message the tap saw: when, and its routing key and body."""

    at: float  # time.time() on arrival
    routing_key: str
    body: dict[str, Any]

    @property
    def object_key(self) -> str:
        return str(self.body["Records"][0]["s3"]["object"]["key"])

    @property
    def metadata(self) -> dict[str, str]:
        meta = self.body["Records"][0]["s3"]["object"].get("userMetadata") or {}
        return {k.lower().removeprefix("x-amz-meta-"): v for k, v in meta.items()}

    @property
    def event_time(self) -> float:
        """The object store's own time of the write (ms resolution), as epoch seconds."""
        from datetime import datetime

        raw = str(self.body["Records"][0]["eventTime"]).replace("Z", "+00:00")
        return datetime.fromisoformat(raw).timestamp()


@dataclass
class Tap:
    seen: list[Seen] = field(default_factory=list)

    def of(self, routing_key: str) -> list[Seen]:
        return [s for s in self.seen if s.routing_key == routing_key]


@asynccontextmanager
async def tap(stack: Stack) -> AsyncIterator[Tap]:
    """Copies of every bucket event and fetch message, while the block runs."""
    connection = await aio_pika.connect(stack.config.amqp_url)
    result = Tap()
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue("", exclusive=True, auto_delete=True)
        for bucket in BUCKETS:
            await queue.bind(BUCKET_EVENTS_EXCHANGE, bucket)
        await queue.bind(WORK_EXCHANGE, FETCH_ROUTING_KEY)

        async def on_message(message: AbstractIncomingMessage) -> None:
            result.seen.append(
                Seen(time.time(), message.routing_key or "", orjson.loads(message.body))
            )

        await queue.consume(on_message, no_ack=True)
        yield result


async def queue_depth(stack: Stack, queue: str) -> int:
    """Messages ready in `queue` (a passive declare: never creates or changes it)."""
    connection = await aio_pika.connect(stack.config.amqp_url)
    async with connection:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, passive=True)
        return int(declared.declaration_result.message_count or 0)
