"""Our clients speak TLS to the object store, RabbitMQ and MongoDB when the settings say so.

Each stand-in runs here with a throwaway certificate for 127.0.0.1 signed by a test CA: weed's
S3 HTTPS listener, a private RabbitMQ node with an amqps listener (the machine's shared node is
never touched), and SecantusDB with TLS on. The clients are the product's own (MinioStore,
shared.broker.connect, Database), built from Settings; each proves it verifies the server: the
same connection trusting another CA, of the same name, fails. Neither the object store's
secret key nor the broker's password appears in any log line written meanwhile, at DEBUG, by
our code or the client libraries.
"""

import asyncio
import logging
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, fields
from pathlib import Path

import aio_pika
import pytest
import urllib3

from deploy.local.rabbit import RabbitNode
from deploy.local.seaweed import SeaweedPorts, free_port, free_ports, start_seaweed, stop_seaweed
from shared.broker import connect
from shared.db import Database
from shared.names import INBOX_BUCKET
from shared.records import Options, Source
from shared.settings import Settings
from shared.storage import MinioStore

pytestmark = pytest.mark.integration

S3_ACCESS_KEY = "tls-test-access"
S3_SECRET_KEY = f"s3-secret-{secrets.token_hex(8)}"
AMQP_USER = "imgpipe-tls"
AMQP_PASSWORD = f"amqp-secret-{secrets.token_hex(8)}"
CA_NAME = "/CN=imgpipe TLS test CA"
SERVER_EXTENSIONS = "\n".join(
    [
        "subjectAltName = IP:127.0.0.1, DNS:localhost",
        "basicConstraints = critical, CA:FALSE",
        "keyUsage = critical, digitalSignature",
        "extendedKeyUsage = serverAuth",
        "subjectKeyIdentifier = hash",
        "authorityKeyIdentifier = keyid",
    ]
)


@dataclass(frozen=True)
class Pki:
    ca: Path  # signed the server's certificate
    other_ca: Path  # same name as `ca`, another key: trusting it alone must fail
    cert: Path  # for 127.0.0.1 and localhost
    key: Path


def _openssl(*args: str, cwd: Path) -> None:
    if shutil.which("openssl") is None:
        pytest.fail("the TLS tests make their certificates with the openssl command")
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _make_ca(dir: Path, name: str) -> None:
    _openssl(
        *("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"),
        *("-nodes", "-days", "2", "-subj", CA_NAME),
        *("-keyout", f"{name}.key", "-out", f"{name}.pem"),
        *("-addext", "basicConstraints = critical, CA:TRUE"),
        *("-addext", "keyUsage = critical, keyCertSign, cRLSign"),
        cwd=dir,
    )


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    dir = tmp_path_factory.mktemp("pki")
    _make_ca(dir, "ca")
    _make_ca(dir, "other-ca")
    (dir / "server.ext").write_text(SERVER_EXTENSIONS)
    _openssl(
        *("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"),
        *("-nodes", "-subj", "/CN=localhost", "-keyout", "server.key", "-out", "server.csr"),
        cwd=dir,
    )
    _openssl(
        *("x509", "-req", "-in", "server.csr", "-days", "2", "-set_serial", "1"),
        *("-CA", "ca.pem", "-CAkey", "ca.key", "-extfile", "server.ext", "-out", "server.pem"),
        cwd=dir,
    )
    return Pki(dir / "ca.pem", dir / "other-ca.pem", dir / "server.pem", dir / "server.key")


def _wait_listening(port: int, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout_s} s")
        time.sleep(0.05)


@pytest.fixture
def secrets_not_logged(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Capture every log record at DEBUG; afterwards, none may contain a credential."""
    caplog.set_level(logging.DEBUG)
    yield
    for secret in (S3_SECRET_KEY, AMQP_PASSWORD):
        assert secret not in caplog.text


def _settings(**env: str) -> Settings:
    base = {
        "AMQP_URL": "amqp://unused@127.0.0.1:1/",
        "S3_ENDPOINT": "127.0.0.1:1",
        "S3_ACCESS_KEY": S3_ACCESS_KEY,
        "S3_SECRET_KEY": S3_SECRET_KEY,
        "MONGO_URL": "mongodb://127.0.0.1:1/",
    }
    return Settings.from_env({**base, **env})


# --- S3: weed's HTTPS listener, MinioStore with S3_SECURE=true ---------------------------------


@pytest.fixture(scope="module")
def s3_https_port(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    dir = tmp_path_factory.mktemp("seaweed-tls")
    *weed, https = free_ports(len(fields(SeaweedPorts)) + 1)  # one pick: all distinct
    ports = SeaweedPorts(*weed)
    # The plain S3 port stays (start_seaweed's readiness probe uses it); the tests use HTTPS.
    tls = (f"-s3.port.https={https}", f"-s3.cert.file={pki.cert}", f"-s3.key.file={pki.key}")
    proc = start_seaweed(
        dir / "data", ports, S3_ACCESS_KEY, S3_SECRET_KEY, dir / "seaweed.log", extra_args=tls
    )
    try:
        _wait_listening(https)
        yield https
    finally:
        stop_seaweed(proc, ports)


@pytest.mark.usefixtures("secrets_not_logged")
async def test_object_store_over_https(
    pki: Pki, s3_https_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings(S3_ENDPOINT=f"127.0.0.1:{s3_https_port}", S3_SECURE="true")
    # MinioStore's urllib3 pool loads the default CA store, which SSL_CERT_FILE replaces.
    monkeypatch.setenv("SSL_CERT_FILE", str(pki.ca))
    store = MinioStore(settings)
    await store.ensure_buckets()
    etag = await store.put(INBOX_BUCKET, "tls/hello.csv", b"over TLS", "text/csv", {"k": "v"})
    assert await store.get(INBOX_BUCKET, "tls/hello.csv") == b"over TLS"
    described = await store.describe(INBOX_BUCKET, "tls/hello.csv")
    assert described is not None and described.etag == etag
    assert store.public_url(INBOX_BUCKET, "tls/hello.csv").startswith(
        f"https://127.0.0.1:{s3_https_port}/"
    )

    monkeypatch.setenv("SSL_CERT_FILE", str(pki.other_ca))
    with pytest.raises(urllib3.exceptions.SSLError, match="CERTIFICATE_VERIFY_FAILED"):
        await MinioStore(settings).ping()


# --- RabbitMQ: a private node with an amqps listener ---------------------------------------------


@pytest.fixture(scope="module")
def amqps_port(pki: Pki) -> Iterator[int]:
    # Directly under /tmp: the node runs as the rabbitmq user, who cannot enter pytest's
    # root-only folders and must own the certificate and key (RabbitNode.create chowns them).
    folder = Path(tempfile.mkdtemp(prefix="imgpipe-rabbit-tls-"))
    for source in (pki.ca, pki.cert, pki.key):
        shutil.copy(source, folder / source.name)
    port = free_port()
    config = "\n".join(
        [
            f"listeners.ssl.default = 127.0.0.1:{port}",
            f"ssl_options.cacertfile = {folder / pki.ca.name}",
            f"ssl_options.certfile = {folder / pki.cert.name}",
            f"ssl_options.keyfile = {folder / pki.key.name}",
            f"default_user = {AMQP_USER}",
            f"default_pass = {AMQP_PASSWORD}",
            "",
        ]
    )
    node = RabbitNode.create(folder, *free_ports(2), config)
    try:
        node.start()
        _wait_listening(port)
        yield port
    finally:
        node.stop()
        shutil.rmtree(folder, ignore_errors=True)


# A connection that must fail is tried in a process of its own: a failed first connect can leave
# garbage behind in the client libraries (aio-pika: a RobustConnection.close() coroutine never
# awaited; pymongo 4.20's async client: the socket of a monitor check that close() cancelled),
# and warnings-as-errors would then fail whatever test the garbage collector runs in next.
_BROKER_REFUSED = """
import asyncio, sys
from aiormq.exceptions import AMQPConnectionError
from shared.broker import connect

async def main() -> int:
    try:
        connection = await connect(sys.argv[1])
    except AMQPConnectionError as exc:
        print(exc)
        return 0
    await connection.close()
    return 1

sys.exit(asyncio.run(main()))
"""
_DATABASE_REFUSED = """
import asyncio, sys
from pymongo.errors import ServerSelectionTimeoutError
from shared.db import Database

async def main() -> int:
    db = Database(sys.argv[1], "imgpipe_tls")
    try:
        await db.ping()
    except ServerSelectionTimeoutError as exc:
        print(exc)
        return 0
    finally:
        await db.close()
    return 1

sys.exit(asyncio.run(main()))
"""


def _refused(script: str, url: str) -> str:
    """The error a client gets from `url` (run with this process's environment); fails the
    test if it connects."""
    done = subprocess.run(
        [sys.executable, "-c", script, url],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, f"connected, or failed otherwise: {done.stdout}{done.stderr}"
    return done.stdout


async def _round_trip(amqp_url: str) -> bytes:
    """Connect as the functions do, publish one message to a queue of our own, read it back."""
    connection = await connect(amqp_url)
    try:
        channel = await connection.channel()
        queue = await channel.declare_queue(exclusive=True)
        await channel.default_exchange.publish(aio_pika.Message(b"over TLS"), queue.name)
        message = await queue.get(timeout=5)
        await message.ack()
        return message.body
    finally:
        await connection.close()


@pytest.mark.usefixtures("secrets_not_logged")
async def test_broker_over_amqps(
    pki: Pki, amqps_port: int, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    base = f"amqps://{AMQP_USER}:{AMQP_PASSWORD}@127.0.0.1:{amqps_port}/"
    # The CA named in the URL (aiormq's cafile option)...
    assert await _round_trip(_settings(AMQP_URL=f"{base}?cafile={pki.ca}").amqp_url) == b"over TLS"
    # ...or, without it, the default CA store, which SSL_CERT_FILE replaces.
    monkeypatch.setenv("SSL_CERT_FILE", str(pki.ca))
    assert await _round_trip(_settings(AMQP_URL=base).amqp_url) == b"over TLS"

    other_ca = f"{base}?cafile={pki.other_ca}"
    assert "CERTIFICATE_VERIFY_FAILED" in await asyncio.to_thread(
        _refused, _BROKER_REFUSED, other_ca
    )
    monkeypatch.setenv("SSL_CERT_FILE", str(pki.other_ca))
    assert "CERTIFICATE_VERIFY_FAILED" in await asyncio.to_thread(_refused, _BROKER_REFUSED, base)
    # aiormq logs the URL it connects to, with the password masked (secrets_not_logged checks).
    assert f"amqps://{AMQP_USER}:******@127.0.0.1:{amqps_port}/" in caplog.text


# --- MongoDB: SecantusDB with TLS, Database with ?tls=true&tlsCAFile= -----------------------------


@pytest.fixture(scope="module")
def mongo_tls_port(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    port = free_port()
    log = tmp_path_factory.mktemp("secantus-tls") / "secantusdb.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "secantusd-py"),  # from the secantusdb wheel
                *("--host", "127.0.0.1", "--port", str(port), "--storage-path", ":memory:"),
                *("--tls-cert-file", str(pki.cert), "--tls-key-file", str(pki.key)),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_listening(port)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


def _mongo_url(port: int, options: str) -> str:
    # retryWrites=false as in the local stack (SecantusDB slows down with retry records).
    return f"mongodb://127.0.0.1:{port}/?retryWrites=false&serverSelectionTimeoutMS=1500{options}"


async def test_database_over_tls(pki: Pki, mongo_tls_port: int) -> None:
    settings = _settings(MONGO_URL=_mongo_url(mongo_tls_port, f"&tls=true&tlsCAFile={pki.ca}"))
    db = Database(settings.mongo_url, "imgpipe_tls")
    try:
        await db.ensure_indexes()
        options = Options(quality=50, format="jpeg")
        source = Source(bucket="csv-inbox", key="tls.csv")
        opened = await db.requests.open("tls-request", "tls", "tls.csv", options, source)
        assert (await db.requests.get("tls-request")) == opened
    finally:
        await db.close()

    other_ca = _mongo_url(mongo_tls_port, f"&tls=true&tlsCAFile={pki.other_ca}")
    assert "CERTIFICATE_VERIFY_FAILED" in await asyncio.to_thread(
        _refused, _DATABASE_REFUSED, other_ca
    )
    # Plain TCP: the server speaks only TLS.
    await asyncio.to_thread(_refused, _DATABASE_REFUSED, _mongo_url(mongo_tls_port, ""))
