"""The event relay between real servers: SeaweedFS (weed mini) and the machine's RabbitMQ.

Each test uploads objects, then a sentinel object; the filer reports changes in order and the
relay publishes them in order, so once the sentinel's event arrives everything before it has too.
"""

import asyncio
import io
import json
import os
import re
import signal
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aio_pika
import orjson
import pytest
from aio_pika.abc import AbstractIncomingMessage
from minio import Minio

from deploy.local.relay import CLIENT_NAME
from deploy.local.seaweed import SeaweedPorts, start_seaweed, stop_seaweed
from deploy.local.testing import own_vhost, vhost_url
from shared.events import decode_bucket_event
from shared.names import (
    BUCKET_EVENTS_EXCHANGE,
    BUCKET_ROUTING_KEYS,
    BUCKETS,
    COMPRESSED_BUCKET,
    INBOX_BUCKET,
    ORIGINALS_BUCKET,
)

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
ACCESS_KEY, SECRET_KEY = "relay-test", "relay-test-secret"
EVENT_TIMEOUT_S = 30.0


class Seaweed:
    """A `weed mini` of this module's own, restartable on the same ports and data."""

    def __init__(self, dir: Path) -> None:
        self.dir, self.ports = dir, SeaweedPorts.free()
        self.start()

    def start(self) -> None:
        self.proc = start_seaweed(
            self.dir / "data", self.ports, ACCESS_KEY, SECRET_KEY, self.dir / "weed.log"
        )

    def stop(self) -> None:
        stop_seaweed(self.proc, self.ports)


class Relay:
    """The relay as a subprocess, the way the local stack runs it."""

    def __init__(self, dir: Path, filer_grpc: str, amqp_url: str) -> None:
        self.state_file, self.log = dir / "relay.state", dir / "relay.log"
        self.argv = [sys.executable, "-m", "deploy.local.relay", "--filer-grpc", filer_grpc]
        self.argv += ["--amqp-url", amqp_url, "--state-file", str(self.state_file)]
        self.argv += ["--log-level", "DEBUG"]
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(self.argv, cwd=ROOT, stderr=log)

    def stop(self, signum: int = signal.SIGTERM) -> int:
        assert self.proc is not None
        self.proc.send_signal(signum)
        return self.proc.wait(timeout=10)


class Inbox:
    """Every message the bucket-events exchange routes, from a queue bound before any upload."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()

    async def until(self, bucket: str, key: str) -> list[AbstractIncomingMessage]:
        """Messages received up to and including the event for bucket/key."""
        received = []
        async with asyncio.timeout(EVENT_TIMEOUT_S):
            while True:
                message = await self.queue.get()
                received.append(message)
                if body(message)["Key"] == f"{bucket}/{key}":
                    return received


def body(message: AbstractIncomingMessage) -> dict[str, Any]:
    parsed: dict[str, Any] = orjson.loads(message.body)
    return parsed


@pytest.fixture(scope="module")
def relay_vhost() -> Iterator[str]:
    """A RabbitMQ vhost of this module's own: no other test's consumers see these events."""
    with own_vhost("relay-test") as name:
        yield name


@pytest.fixture(scope="module")
def amqp_url(relay_vhost: str) -> str:
    return vhost_url(relay_vhost)


@pytest.fixture(scope="module")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seaweed]:
    server = Seaweed(tmp_path_factory.mktemp("seaweed"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def s3(seaweed: Seaweed) -> Minio:
    client = Minio(seaweed.ports.s3_endpoint, ACCESS_KEY, SECRET_KEY, secure=False)
    for bucket in (*BUCKETS, "not-ours"):
        client.make_bucket(bucket)
    return client


@pytest.fixture(scope="module")
async def inbox(amqp_url: str) -> AsyncIterator[Inbox]:
    received = Inbox()
    async with await aio_pika.connect(amqp_url) as connection:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(
            BUCKET_EVENTS_EXCHANGE, aio_pika.ExchangeType.DIRECT, durable=True
        )
        queue = await channel.declare_queue(exclusive=True)
        for routing_key in BUCKET_ROUTING_KEYS.values():
            await queue.bind(exchange, routing_key)
        await queue.consume(received.queue.put, no_ack=True)
        yield received


@pytest.fixture(scope="module")
def relay(
    inbox: Inbox, seaweed: Seaweed, amqp_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Relay]:
    process = Relay(tmp_path_factory.mktemp("relay"), seaweed.ports.filer_grpc_address, amqp_url)
    process.start()
    yield process
    assert process.stop() == 0, "the relay exits cleanly on SIGTERM"


async def put(s3: Minio, bucket: str, key: str, data: bytes, **options: Any) -> str:
    """Upload like the services do (the SDK is synchronous) and return the object's ETag."""
    result = await asyncio.to_thread(
        s3.put_object, bucket, key, io.BytesIO(data), len(data), **options
    )
    return str(result.etag)


async def sentinel(s3: Minio, inbox: Inbox) -> list[AbstractIncomingMessage]:
    """Upload a marker object and return every message up to and including its event."""
    key = f"sentinel-{uuid.uuid4().hex[:8]}"
    await put(s3, INBOX_BUCKET, key, b"")
    return await inbox.until(INBOX_BUCKET, key)


async def test_uploads_arrive_as_minio_events(s3: Minio, relay: Relay, inbox: Inbox) -> None:
    photo = "req 1/héllo wörld+1.jpg"
    meta = {"request-id": "req-1", "image-id": "img-1"}
    first = await put(s3, ORIGINALS_BUCKET, photo, b"v1", content_type="image/jpeg", metadata=meta)
    second = await put(s3, ORIGINALS_BUCKET, photo, b"v2!", content_type="image/jpeg")
    csv = await put(s3, INBOX_BUCKET, "upload.csv", b"url\n", content_type="text/csv")
    big = os.urandom(6 * 1024 * 1024)  # two parts: the SDK uploads it as multipart
    multipart = await put(
        s3, COMPRESSED_BUCKET, "big/out.bin", big, part_size=5 * 1024 * 1024, metadata=meta
    )
    await asyncio.to_thread(s3.remove_object, INBOX_BUCKET, "upload.csv")
    await put(s3, "not-ours", "ignored.jpg", b"x")

    *messages, _ = await sentinel(s3, inbox)

    assert [(body(m)["Key"], body(m)["Records"][0]["s3"]["object"]["eTag"]) for m in messages] == [
        (f"{ORIGINALS_BUCKET}/{photo}", first),
        (f"{ORIGINALS_BUCKET}/{photo}", second),
        (f"{INBOX_BUCKET}/upload.csv", csv),
        (f"{COMPRESSED_BUCKET}/big/out.bin", multipart),
    ]
    for message in messages:
        bucket = body(message)["Records"][0]["s3"]["bucket"]["name"]
        assert message.exchange == BUCKET_EVENTS_EXCHANGE
        assert message.routing_key == BUCKET_ROUTING_KEYS[bucket]
        assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
        assert message.content_type == "application/json"
        assert message.headers == {
            "minio-bucket": bucket,
            "minio-event": body(message)["EventName"],
        }

    record = body(messages[0])["Records"][0]
    assert body(messages[0])["EventName"] == record["eventName"] == "s3:ObjectCreated:Put"
    assert (record["eventVersion"], record["eventSource"]) == ("2.0", "minio:s3")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", record["eventTime"])
    assert record["s3"]["bucket"]["arn"] == f"arn:aws:s3:::{ORIGINALS_BUCKET}"
    s3_object = record["s3"]["object"]
    assert s3_object["key"] == "req+1%2Fh%C3%A9llo+w%C3%B6rld%2B1.jpg"
    assert (s3_object["size"], s3_object["contentType"]) == (2, "image/jpeg")
    assert s3_object["userMetadata"] == {
        "X-Amz-Meta-Image-Id": "img-1",
        "X-Amz-Meta-Request-Id": "req-1",
        "content-type": "image/jpeg",
    }
    assert re.fullmatch(r"[0-9A-F]{16}", s3_object["sequencer"])
    assert body(messages[1])["Records"][0]["s3"]["object"]["userMetadata"] == {
        "content-type": "image/jpeg"
    }

    (event,) = decode_bucket_event(messages[3].body)
    assert body(messages[3])["EventName"] == "s3:ObjectCreated:CompleteMultipartUpload"
    assert (event.bucket, event.key, event.size) == (COMPRESSED_BUCKET, "big/out.bin", len(big))
    assert event.etag == multipart and multipart.endswith("-2")
    assert event.metadata == meta


async def test_relay_resumes_after_being_killed(s3: Minio, relay: Relay, inbox: Inbox) -> None:
    await sentinel(s3, inbox)  # everything so far is published and its position saved
    relay.stop(signal.SIGKILL)
    assert json.loads(relay.state_file.read_text())["since_ns"] > 0

    missed = [f"while-down-{n}.jpg" for n in range(3)]
    for key in missed:
        await put(s3, ORIGINALS_BUCKET, key, key.encode(), content_type="image/jpeg")
    relay.start()
    *messages, _ = await sentinel(s3, inbox)

    keys = Counter(body(m)["Key"] for m in messages)
    assert all(keys[f"{ORIGINALS_BUCKET}/{key}"] == 1 for key in missed), keys
    assert sum(keys.values()) - len(missed) <= 2, f"too many replayed events: {keys}"


def close_relay_connection(vhost: str) -> None:
    """Make the broker drop the relay's connection, as a broker restart would."""
    listing = subprocess.run(
        ["rabbitmqctl", "list_connections", "--silent", "pid", "vhost", "client_properties"],
        capture_output=True,
        text=True,
        check=True,
    )
    (pid,) = (
        line.split("\t")[0]
        for line in listing.stdout.splitlines()
        if f"\t{vhost}\t" in line and f'"connection_name","{CLIENT_NAME}"' in line
    )
    subprocess.run(["rabbitmqctl", "-q", "close_connection", pid, "test"], check=True)


async def test_relay_reconnects_when_the_broker_drops_it(
    s3: Minio, relay: Relay, inbox: Inbox, relay_vhost: str
) -> None:
    await sentinel(s3, inbox)
    await asyncio.to_thread(close_relay_connection, relay_vhost)

    etag = await put(s3, ORIGINALS_BUCKET, "after-broker-drop.jpg", b"y")
    *messages, _ = await sentinel(s3, inbox)

    assert [body(m)["Records"][0]["s3"]["object"]["eTag"] for m in messages] == [etag]


async def test_relay_reconnects_when_the_filer_restarts(
    s3: Minio, seaweed: Seaweed, relay: Relay, inbox: Inbox
) -> None:
    await sentinel(s3, inbox)
    await asyncio.to_thread(seaweed.stop)
    await asyncio.to_thread(seaweed.start)

    etag = await put(s3, ORIGINALS_BUCKET, "after-filer-restart.jpg", b"z")
    *messages, _ = await sentinel(s3, inbox)

    assert [body(m)["Records"][0]["s3"]["object"]["eTag"] for m in messages] == [etag]
