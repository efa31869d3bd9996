"""The whole service on one machine, as plain processes on loopback (no Docker needed).

RabbitMQ (the machine's own, started if it is not answering), SeaweedFS as the S3 store with
the relay publishing its events in MinIO's format, SecantusDB as MongoDB, the gateway and the
four functions. `make up` / `make down` drive it; the integration tests start their own copy
on free ports and their own RabbitMQ vhost.

    python -m deploy.local.stack up|down|status [--dir .stack]
"""

import argparse
import asyncio
import base64
import functools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from urllib.parse import urlsplit

from pymongo import MongoClient
from pymongo.errors import PyMongoError

from deploy.local.rabbit import RabbitCluster, RabbitNode
from deploy.local.seaweed import (
    SeaweedPorts,
    free_ports,
    remove_sockets,
    start_seaweed,
)
from shared.broker import connect, declare_topology
from shared.settings import amqp_urls

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_IMAGES = ROOT / "sample-data" / "images"
ACCESS_KEY = "imgpipe-local"
SECRET_KEY = "imgpipe-local-secret"  # loopback-only development store, never production
FUNCTIONS = ("ingest", "fetcher", "compressor", "notifier")
DEV_TENANT = "dev"
# SecantusDB recovers its whole data directory before it answers: minutes after a big run.
MONGO_START_S = 600.0


def replica_name(name: str, n: int) -> str:
    """The process name of a function's or the gateway's n-th replica: "compressor",
    "compressor-2", …"""
    return name if n == 1 else f"{name}-{n}"


@dataclass
class Ports:
    gateway: int = 8000
    mongo: int = 27018
    images: int = 8099  # serves sample-data/images for the sample CSV
    seaweed: SeaweedPorts = field(default_factory=SeaweedPorts)
    # Each consumer process's Prometheus endpoint, by process name (the gateway serves its own
    # /metrics).
    metrics: dict[str, int] = field(
        default_factory=lambda: {name: 9101 + n for n, name in enumerate(FUNCTIONS)}
    )
    # Where the second, third, … gateway replica listens.
    more_gateways: list[int] = field(default_factory=list)

    @classmethod
    def free(cls, replicas: int = 1) -> "Ports":
        """Free ports for `replicas` processes of each function and of the gateway."""
        names = [replica_name(f, n) for f in FUNCTIONS for n in range(1, replicas + 1)]
        weed = len(fields(SeaweedPorts))
        # One pick for all: ports picked apart can be the same one (each pick frees its own).
        picked = free_ports(len(names) + replicas + 2 + weed)
        metrics = dict(zip(names, picked, strict=False))
        gateways = picked[len(names) : len(names) + replicas]
        mongo, images, *seaweed = picked[len(names) + replicas :]
        return cls(gateways[0], mongo, images, SeaweedPorts(*seaweed), metrics, gateways[1:])

    @property
    def gateways(self) -> list[int]:
        return [self.gateway, *self.more_gateways]


@dataclass
class StackConfig:
    dir: Path
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    ports: Ports = field(default_factory=Ports)
    extra_env: dict[str, str] = field(default_factory=dict)
    # A private broker node or cluster (tests that restart or kill RabbitMQ); amqp_url must
    # point at it.
    rabbit: RabbitNode | RabbitCluster | None = None
    # Processes of each function and of the gateway (ports must have as many: Ports.free).
    replicas: int = 1
    webhook_secret: str = field(
        default_factory=lambda: "whsec_" + base64.b64encode(os.urandom(32)).decode()
    )

    def env(self) -> dict[str, str]:
        """The environment every service of the stack runs with."""
        return {
            "AMQP_URL": self.amqp_url,
            "S3_ENDPOINT": f"127.0.0.1:{self.ports.seaweed.s3}",
            "S3_ACCESS_KEY": ACCESS_KEY,
            "S3_SECRET_KEY": SECRET_KEY,
            # SecantusDB collapses under pymongo's retryable-write bookkeeping (local-stack.md);
            # the handlers are idempotent, so the local stack turns it off.
            "MONGO_URL": f"mongodb://127.0.0.1:{self.ports.mongo}/?retryWrites=false",
            "MONGO_DB": "imgpipe",
            "GATEWAY_PORT": str(self.ports.gateway),
            "PUBLIC_BASE_URL": f"http://127.0.0.1:{self.ports.gateway}",
            # The sample images and the tests' webhook receivers live on loopback, which the
            # fetcher and the notifier refuse by default (SSRF guard): allow it here only.
            "FETCH_ALLOW_CIDRS": "127.0.0.0/8",
            # SeaweedFS has no lifecycle rules: the notifier deletes expired objects itself.
            "SWEEP_OBJECTS": "true",
            "WEBHOOK_SECRET": self.webhook_secret,
            **self.extra_env,
        }


class Stack:
    """Starts and stops the processes; remembers their pids in <dir>/stack.json."""

    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.procs: dict[str, int] = {}
        # Our own children, so stop() can reap them; `make down` only has their pids.
        self._children: dict[int, subprocess.Popen[bytes]] = {}
        # How to start each process again (fault-injection tests kill and restart them).
        self._starters: dict[str, Callable[[], subprocess.Popen[bytes]]] = {}
        self.logs = config.dir / "logs"

    @property
    def state_file(self) -> Path:
        return self.config.dir / "stack.json"

    def start(self) -> None:
        cfg = self.config
        self.logs.mkdir(parents=True, exist_ok=True)
        if cfg.rabbit is not None:
            cfg.rabbit.start()
        else:
            ensure_rabbitmq(cfg.amqp_url)
        asyncio.run(_declare(cfg.amqp_url))
        self._save()
        try:
            self._start_all()
        except BaseException:
            self.stop()
            raise

    def _start_all(self) -> None:
        cfg, env = self.config, self.config.env()
        self._add(
            "seaweed",
            lambda: start_seaweed(
                data_dir=cfg.dir / "seaweed",
                ports=cfg.ports.seaweed,
                access_key=ACCESS_KEY,
                secret_key=SECRET_KEY,
                log_file=self.logs / "seaweed.log",
            ),
        )
        mongo_dir = cfg.dir / "mongo"
        mongo_dir.mkdir(parents=True, exist_ok=True)
        self._spawn(
            "secantusdb",
            [
                _bin("secantusd-py"),
                *("--host", "127.0.0.1", "--port", str(cfg.ports.mongo)),
                *("--storage-path", str(mongo_dir)),
            ],
            # Answering a ping, not just listening: after a big run it accepts connections
            # (and closes them) while it recovers its data directory.
            ready=lambda: _mongo_answers(cfg.ports.mongo),
            timeout=MONGO_START_S,
            advice=_reset_advice(mongo_dir),
        )
        self._spawn(
            "relay",
            [
                *(sys.executable, "-m", "deploy.local.relay"),
                *("--filer-grpc", cfg.ports.seaweed.filer_grpc_address),
                *("--amqp-url", cfg.amqp_url, "--state-file", str(cfg.dir / "relay.state")),
            ],
        )
        for name in FUNCTIONS:
            for n in range(1, cfg.replicas + 1):
                process = replica_name(name, n)
                metrics = {"METRICS_PORT": str(cfg.ports.metrics[process])}
                self._spawn(process, [sys.executable, "-m", name], {**env, **metrics})
        for n in range(1, cfg.replicas + 1):
            port = cfg.ports.gateways[n - 1]
            self._spawn(
                replica_name("gateway", n),
                [sys.executable, "-m", "ingest.gateway"],
                {**env, "GATEWAY_PORT": str(port)},
                ready=functools.partial(_http_ok, f"http://127.0.0.1:{port}/healthz"),
            )
        self._spawn(
            "images",
            [
                *(sys.executable, "-m", "http.server", str(cfg.ports.images)),
                *("--bind", "127.0.0.1", "--directory", str(SAMPLE_IMAGES)),
            ],
        )
        self.check_alive()

    def check_alive(self) -> None:
        """Fail now, naming the log, if a process already exited (bad settings, busy port)."""
        for name, pid in self.procs.items():
            child = self._children.get(pid)
            if child is not None and child.poll() is not None:
                log = self.logs / f"{name}.log"
                raise RuntimeError(f"{name} exited with {child.returncode} at start; see {log}")

    def _spawn(
        self,
        name: str,
        argv: list[str],
        env: dict[str, str] | None = None,
        ready: Callable[[], bool] | None = None,
        timeout: float = 30.0,
        advice: str = "",
    ) -> None:
        log_path = self.logs / f"{name}.log"

        def start() -> "subprocess.Popen[bytes]":
            with log_path.open("ab") as log:
                proc = subprocess.Popen(
                    argv,
                    cwd=ROOT,
                    env={**os.environ, **(env or {})},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # a Ctrl-C in the shell does not kill the stack
                )
            if ready is not None:
                _wait_for(ready, name, log_path, timeout, advice, exited=proc.poll)
            return proc

        self._add(name, start)

    def _add(self, name: str, start: Callable[[], "subprocess.Popen[bytes]"]) -> None:
        self._starters[name] = start
        proc = start()
        self.procs[name] = proc.pid
        # Keep start order (a restarted process keeps its place): stop() goes in reverse, so
        # the functions stop before the servers they use.
        order = [n for n in self._starters if n in self.procs]
        self.procs = {n: self.procs[n] for n in order}
        self._children[proc.pid] = proc
        self._save()

    def dev_key(self) -> str:
        """The development key of `make up` (tenant "dev"), made on first use."""
        path = self.config.dir / "dev-api-key"
        if not path.exists():
            path.write_text(self.create_key("development", DEV_TENANT))
            path.chmod(0o600)
        return path.read_text().strip()

    def create_key(self, name: str, tenant: str) -> str:
        """Create an API key with the admin CLI (`python -m ingest.keys`); returns the key."""
        done = subprocess.run(
            [sys.executable, "-m", "ingest.keys", "create", "--name", name, "--tenant", tenant],
            cwd=ROOT,
            env={**os.environ, **self.config.env()},
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout.strip()

    def limit(
        self,
        tenant: str,
        concurrent: int | None = None,
        images_per_day: int | None = None,
        bytes_stored: int | None = None,
    ) -> str:
        """Set a tenant's limits with the admin CLI (0: none; None: left as it is); returns
        what it printed (the limits after)."""
        given = {
            "--concurrent": concurrent,
            "--images-per-day": images_per_day,
            "--bytes-stored": bytes_stored,
        }
        options = [part for o, n in given.items() if n is not None for part in (o, str(n))]
        done = subprocess.run(
            [sys.executable, "-m", "ingest.keys", "limit", tenant, *options],
            cwd=ROOT,
            env={**os.environ, **self.config.env()},
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout.strip()

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Signal one process (SIGKILL: a crash, no clean-up) and reap it."""
        pid = self.procs.pop(name)
        os.kill(pid, sig)
        self._children.pop(pid).wait()
        self._save()

    def restart(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Kill one process and start it again with the same command and environment."""
        self.kill(name, sig)
        self.revive(name)

    def revive(self, name: str) -> None:
        """Start a killed process again with the same command and environment."""
        self._add(name, self._starters[name])

    def add_replica(self, name: str) -> str:
        """Start one more `name` process, same command and environment (even after `name`
        itself was killed); returns the replica's own name ("compressor-2", …) for kill()."""
        n = 2
        while replica_name(name, n) in self._starters:
            n += 1
        self._add(replica_name(name, n), self._starters[name])
        return replica_name(name, n)

    def restart_broker(self) -> None:
        """Stop and start the stack's private RabbitMQ node or nodes (their data survives)."""
        if self.config.rabbit is None:
            raise RuntimeError("only a stack with its own RabbitMQ node may restart it")
        self.config.rabbit.restart()

    def _save(self) -> None:
        state = {"procs": self.procs, "env": self.config.env(), "ports": asdict(self.config.ports)}
        self.state_file.write_text(json.dumps(state, indent=2))

    def stop(self) -> None:
        """SIGTERM every process, newest first; SIGKILL what has not exited after 10 s."""
        for name, pid in reversed(self.procs.items()):
            _terminate(pid, name)
            if child := self._children.pop(pid, None):
                child.wait()  # reaped: no zombie, no ResourceWarning
        self.procs.clear()
        remove_sockets(self.config.ports.seaweed)
        if self.config.rabbit is not None:
            self.config.rabbit.stop()
        self.state_file.unlink(missing_ok=True)

    @classmethod
    def load(cls, dir: Path) -> "Stack":
        state = json.loads((dir / "stack.json").read_text())
        ports = state["ports"]
        ports["seaweed"] = SeaweedPorts(**ports["seaweed"])
        stack = cls(StackConfig(dir, amqp_url=state["env"]["AMQP_URL"], ports=Ports(**ports)))
        stack.procs = state["procs"]
        return stack


async def _declare(amqp_url: str) -> None:
    # Queues are bound before the relay publishes anything: unroutable events are dropped.
    connection = await connect(amqp_url)
    async with connection:
        await declare_topology(await connection.channel())


def ensure_rabbitmq(amqp_url: str) -> None:
    """Use a RabbitMQ of `amqp_url` if one answers, otherwise start the machine's own."""
    addresses = [urlsplit(url) for url in amqp_urls(amqp_url)]
    if any(_port_open(a.port or 5672, a.hostname or "127.0.0.1") for a in addresses):
        return
    host, port = addresses[0].hostname or "127.0.0.1", addresses[0].port or 5672
    if shutil.which("rabbitmq-server") is None:
        raise SystemExit(
            "RabbitMQ is not answering and is not installed: run `make setup` "
            "(it installs Debian's rabbitmq-server) or point AMQP_URL at a broker"
        )
    env = {
        **os.environ,
        "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
        "ERL_EPMD_ADDRESS": "127.0.0.1",
        # Without this the Erlang distribution port listens on every interface.
        "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
    }
    subprocess.run(["rabbitmq-server", "-detached"], env=env, check=True)
    _wait_for(lambda: _port_open(port, host), "RabbitMQ", None, timeout=60)


def _bin(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def _port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _mongo_answers(port: int) -> bool:
    client: MongoClient[dict[str, object]] = MongoClient(
        f"mongodb://127.0.0.1:{port}/", serverSelectionTimeoutMS=1000, connectTimeoutMS=1000
    )
    try:
        client.admin.command("ping")
    except PyMongoError:
        return False
    finally:
        client.close()
    return True


def _reset_advice(data_dir: Path) -> str:
    """What to tell someone whose local database does not come back."""
    size = sum(f.stat().st_size for f in data_dir.rglob("*") if f.is_file())
    return (
        f"its data ({size / 2**20:.0f} MiB) is in {data_dir}; `make clean` deletes the "
        "local stack's state (requests, images, keys) so the next `make up` starts afresh"
    )


def _wait_for(
    ready: Callable[[], bool],
    what: str,
    log: Path | None,
    timeout: float = 30.0,
    advice: str = "",
    exited: Callable[[], int | None] = lambda: None,
) -> None:
    started = time.monotonic()
    told = False
    while not ready():
        waited = time.monotonic() - started
        hint = f"; see {log}" if log else ""
        if exited() is not None:
            raise RuntimeError(
                f"{what} exited while starting{hint}" + (f"; {advice}" if advice else "")
            )
        if waited > timeout:
            raise RuntimeError(
                f"{what} did not become ready within {timeout:.0f} s{hint}"
                + (f"; {advice}" if advice else "")
            )
        if waited > 5 and not told:
            print(f"waiting for {what} (up to {timeout:.0f} s){hint}", file=sys.stderr)
            told = True
        time.sleep(0.1)


def _terminate(pid: int, name: str) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if not _alive(pid):
            return
        time.sleep(0.05)
    print(f"{name} (pid {pid}) ignored SIGTERM; killing it", file=sys.stderr)
    os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    """Running (a zombie, exited but not yet reaped, counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument("--dir", type=Path, default=ROOT / ".stack")
    args = parser.parse_args()
    if args.command == "up":
        if (args.dir / "stack.json").exists():
            raise SystemExit(f"a stack is already running from {args.dir}: `make down` first")
        amqp_url = os.environ.get("AMQP_URL", StackConfig.amqp_url)
        stack = Stack(StackConfig(args.dir, amqp_url=amqp_url))
        stack.start()
        print(f"stack up; logs in {stack.logs}")
        for name, value in stack.config.env().items():
            print(f"  {name}={value}")
        print(f"development API key (tenant {DEV_TENANT}): {stack.dev_key()}")
    elif args.command == "down":
        if (args.dir / "stack.json").exists():
            Stack.load(args.dir).stop()
        print("stack down")
    else:
        state = args.dir / "stack.json"
        print(state.read_text() if state.exists() else "no stack running")


if __name__ == "__main__":
    main()
