"""Local stand-in for MinIO's AMQP bucket notifications: SeaweedFS filer events → RabbitMQ.

    python -m deploy.local.relay --filer-grpc 127.0.0.1:18888 \\
        --amqp-url amqp://guest:guest@127.0.0.1:5672/ --state-file .stack/relay.state

--amqp-url takes AMQP_URL's form: with several URLs (a cluster), each session connects to the
first node that answers.

Follows the filer's metadata stream under /buckets/, turns every object written to one of our
buckets into the message MinIO would publish (translate.py), and publishes it the way our MinIO
AMQP targets are configured: durable direct exchange, persistent delivery, publisher confirms.

Resuming: after each confirmed publish the event's timestamp goes to the state file; a restart
subscribes from there, so no event is lost and at most the one in flight is published twice
(consumers dedupe on bucket/key/eTag anyway). With no state file the relay starts from the
beginning of the filer's log: a fresh stack's buckets are empty, so that replays nothing stale,
while starting from "now" would miss uploads made before the relay came up.
"""

import argparse
import asyncio
import itertools
import json
import logging
import os
import random
import signal
import sys
import time
from collections import deque
from collections.abc import Iterable
from pathlib import Path

import aio_pika
import aiormq.exceptions as amqp_errors
import grpc

from deploy.local.filer_wire import (
    SUBSCRIBE_METADATA,
    decode_metadata_event,
    encode_subscribe_request,
)
from deploy.local.translate import Publication, translate
from shared.broker import connect_once
from shared.names import BUCKET_EVENTS_EXCHANGE
from shared.settings import SettingsError, amqp_urls

log = logging.getLogger("deploy.local.relay")

PATH_PREFIX = "/buckets/"
CLIENT_NAME = "imgpipe-relay"  # how the broker and the filer list this client
# Each (re)subscription starts this far before the newest published event: the stream was
# seen up to ~5 ms out of timestamp order under concurrent writes.
RESUME_MARGIN_NS = 250_000_000
MIN_BACKOFF_S, MAX_BACKOFF_S = 0.5, 10.0
HEALTHY_SESSION_S = 30.0  # a session that lasted this long resets the backoff
# The broker refused us for good: credentials, vhost, permissions, or an exchange declared
# with other settings. aiormq reports a missing vhost as a frame error.
FATAL_AMQP_ERRORS = (
    amqp_errors.AuthenticationError,
    amqp_errors.ProbableAuthenticationError,
    amqp_errors.ConnectionNotAllowed,
    amqp_errors.ChannelAccessRefused,
    amqp_errors.ChannelPreconditionFailed,
    amqp_errors.ProtocolSyntaxError,
)
TRANSIENT_ERRORS = (
    grpc.aio.AioRpcError,
    amqp_errors.AMQPError,
    amqp_errors.ChannelInvalidStateError,  # publishing on a channel the broker closed
    OSError,  # includes refused connections and timeouts
)


class ConfigError(Exception):
    """Retrying cannot help: fix the arguments, the broker's setup or the state file."""


Seen = tuple[int, str]  # (event timestamp in ns, bucket/key)


class StateFile:
    """Where to resume: the newest event's timestamp (ns) and the events published within the
    resume margin before it (JSON), kept across restarts."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> tuple[int, list[Seen]]:
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return 0, []
        try:
            state = json.loads(text)
            return int(state["since_ns"]), [(int(ts), str(path)) for ts, path in state["recent"]]
        except (ValueError, KeyError, TypeError):
            raise ConfigError(f"state file {self.path} is not a relay state: {text!r}") from None

    def save(self, since_ns: int, recent: Iterable[Seen]) -> None:
        # fsync before the rename: a crash leaves the old or the new value, never a torn file.
        # The directory is not synced: losing the rename only replays a few events.
        temporary = self.path.with_name(self.path.name + ".tmp")
        with temporary.open("w") as file:
            json.dump({"since_ns": since_ns, "recent": list(recent)}, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, self.path)


class Relay:
    """One relay process: a filer subscription and a broker connection, rebuilt after faults."""

    def __init__(self, filer: str, amqp_url: str, state: StateFile) -> None:
        self.filer, self.amqp_url, self.state = filer, amqp_url, state
        # The filer's stream can be a few ms out of timestamp order under concurrent writes,
        # so a high-water mark alone would drop events: each (re)subscription re-reads a margin
        # before it, and the events already published within that margin are skipped.
        self.since_ns, recent = state.load()
        self.recent: deque[Seen] = deque(recent)
        # The filer refuses a second stream with the same id and epoch: a fresh id per process,
        # a new epoch per reconnection.
        self.client_id = random.randint(1, 2**31 - 1)

    async def run(self) -> None:
        """Relay until cancelled; raise ConfigError when retrying cannot help."""
        backoff = MIN_BACKOFF_S
        for epoch in itertools.count(1):
            started = time.monotonic()
            try:
                await self._session(epoch)
                log.warning("filer stream ended; reconnecting")
            except FATAL_AMQP_ERRORS as exc:
                hint = "check the credentials, vhost, permissions and exchange type"
                raise ConfigError(f"the broker refused the relay ({hint}): {exc!r}") from exc
            except TRANSIENT_ERRORS as exc:
                log.warning("relay interrupted (%s); retrying in %.1f s", _describe(exc), backoff)
            if time.monotonic() - started > HEALTHY_SESSION_S:
                backoff = MIN_BACKOFF_S
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_S)

    async def _session(self, epoch: int) -> None:
        async with await connect_once(
            self.amqp_url, client_properties={"connection_name": CLIENT_NAME}
        ) as connection:
            # The filer's stream goes on when the broker connection dies: the session ends
            # then, so the relay reconnects (to another node of a cluster) before the next
            # event rather than failing to publish it.
            lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

            def on_close(*_: object) -> None:
                if not lost.done():
                    lost.set_result(None)

            connection.close_callbacks.add(on_close)
            channel = await connection.channel(publisher_confirms=True)
            exchange = await channel.declare_exchange(
                BUCKET_EVENTS_EXCHANGE, aio_pika.ExchangeType.DIRECT, durable=True
            )
            async with grpc.aio.insecure_channel(self.filer) as filer:
                relaying = asyncio.ensure_future(self._relay(filer, exchange, epoch))
                await asyncio.wait((relaying, lost), return_when=asyncio.FIRST_COMPLETED)
                if not relaying.done():
                    relaying.cancel()
                    await asyncio.wait((relaying,))
                    raise ConnectionError("the broker connection was lost")
                await relaying  # its end, or its error

    async def _relay(
        self, filer: grpc.aio.Channel, exchange: aio_pika.abc.AbstractExchange, epoch: int
    ) -> None:
        """Publish every new event of the filer's stream, from the resume point on."""
        subscribe = filer.unary_stream(SUBSCRIBE_METADATA)
        since = max(0, self.since_ns - RESUME_MARGIN_NS)
        request = encode_subscribe_request(CLIENT_NAME, PATH_PREFIX, since, self.client_id, epoch)
        log.info("subscribing to %s after %d", self.filer, since)
        async for raw in subscribe(request):
            event = decode_metadata_event(raw)
            publication = translate(event)
            if publication is None:
                continue
            seen = (event.ts_ns, publication.object_path)
            if not self.is_new(seen):
                continue
            await _publish(exchange, publication)
            self.remember(seen)
            log.debug("published %s (%d)", publication.object_path, event.ts_ns)

    def is_new(self, seen: Seen) -> bool:
        """Not published yet: newer than the margin's start and not among its published."""
        return seen[0] >= self.since_ns - RESUME_MARGIN_NS and seen not in self.recent

    def remember(self, seen: Seen) -> None:
        """Move the resume point and keep the margin's published events, durably."""
        self.since_ns = max(self.since_ns, seen[0])
        self.recent.append(seen)
        while self.recent and self.recent[0][0] < self.since_ns - RESUME_MARGIN_NS:
            self.recent.popleft()
        self.state.save(self.since_ns, self.recent)


async def _publish(exchange: aio_pika.abc.AbstractExchange, publication: Publication) -> None:
    """Publish as MinIO's AMQP target does; with confirms on, this waits for the broker's ack."""
    message = aio_pika.Message(
        publication.body,
        headers={**publication.headers},
        content_type="application/json",
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
    )
    # Not mandatory, like MinIO: the broker drops events no queue is bound for.
    await exchange.publish(message, routing_key=publication.routing_key, mandatory=False)


def _describe(exc: BaseException) -> str:
    """One log line for a fault (gRPC errors carry a multi-line debug string)."""
    if isinstance(exc, grpc.aio.AioRpcError):
        return f"filer: {exc.code().name} {exc.details()}"
    return repr(exc)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m deploy.local.relay", description=__doc__)
    parser.add_argument("--filer-grpc", required=True, help="filer gRPC address, host:port")
    parser.add_argument(
        "--amqp-url", required=True, help="amqp://user:password@host:port/vhost[,amqp://…]"
    )
    parser.add_argument("--state-file", required=True, type=Path, help="resume point, kept here")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING"])
    args = parser.parse_args(argv)
    host, _, port = args.filer_grpc.rpartition(":")
    if not host or not port.isdigit():
        parser.error(f"--filer-grpc must be host:port, got {args.filer_grpc!r}")
    try:
        amqp_urls(args.amqp_url)
    except SettingsError as exc:
        parser.error(str(exc))
    return args


async def _run_until_signalled(relay: Relay) -> None:
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, task.cancel)
    try:
        await relay.run()
    except asyncio.CancelledError:
        log.info("stopped")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    # Only the relay's own records go below WARNING: aiormq's debug output is one frame a line.
    logging.basicConfig(stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s")
    log.setLevel(args.log_level)
    try:
        relay = Relay(args.filer_grpc, args.amqp_url, StateFile(args.state_file))
        asyncio.run(_run_until_signalled(relay))
    except ConfigError as exc:
        log.error("%s", exc)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
