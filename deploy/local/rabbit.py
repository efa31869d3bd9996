"""Private RabbitMQ nodes, and clusters of them, for tests that stop or kill the broker.

The machine's own node (127.0.0.1:5672) is shared with other runs and is never restarted by
tests; these have their own names, ports, data and config in folders of the test's own.

Nodes of a cluster authenticate each other (and rabbitmqctl) with the Erlang cookie. Debian's
scripts run the server and rabbitmqctl as the rabbitmq user, whose HOME holds one cookie:
every node started here shares it, so they can be joined without a cookie of their own.
"""

import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from deploy.local.seaweed import free_ports


@dataclass(frozen=True)
class RabbitNode:
    dir: Path
    port: int
    dist_port: int
    name: str = ""

    @classmethod
    def create(cls, dir: Path, port: int, dist_port: int, config: str = "") -> "RabbitNode":
        """A node in `dir`; `config` is appended to its rabbitmq.conf (e.g. a TLS listener)."""
        node = cls(dir, port, dist_port, f"imgpipe-{uuid.uuid4().hex[:8]}@localhost")
        dir.mkdir(parents=True, exist_ok=True)
        # The machine's rabbitmq.conf pins the listener to 5672: give the node a config of
        # its own, and an empty env file so the machine's NODENAME does not apply either.
        (dir / "rabbitmq.conf").write_text(f"listeners.tcp.local = 127.0.0.1:{port}\n{config}")
        (dir / "rabbitmq-env.conf").write_text("")
        (dir / "enabled_plugins").write_text("[].\n")
        _give_to_rabbitmq(dir, *dir.iterdir())
        return node

    @property
    def amqp_url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    @property
    def pid_file(self) -> Path:
        return self.dir / "node.pid"

    def start(self, timeout: float = 60.0) -> None:
        env = {
            **os.environ,
            "RABBITMQ_NODENAME": self.name,
            "RABBITMQ_CONFIG_FILE": str(self.dir / "rabbitmq.conf"),
            "RABBITMQ_CONF_ENV_FILE": str(self.dir / "rabbitmq-env.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.dir / "enabled_plugins"),
            "RABBITMQ_MNESIA_BASE": str(self.dir / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.dir / "log"),
            "RABBITMQ_PID_FILE": str(self.pid_file),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        }
        subprocess.run(["rabbitmq-server", "-detached"], env=env, check=True, cwd=self.dir)
        self._wait(lambda: _listening(self.port), "start", timeout)

    def stop(self, timeout: float = 60.0) -> None:
        """Stop the node (its data stays: persistent messages survive a restart)."""
        subprocess.run(
            ["rabbitmqctl", "-q", "-n", self.name, "stop"], check=False, capture_output=True
        )
        self._wait(lambda: not _listening(self.port), "stop", timeout)

    def restart(self) -> None:
        self.stop()
        self.start()

    def kill(self) -> None:
        """SIGKILL the node's Erlang VM: a crash, nothing flushed or handed over."""
        os.kill(int(self.pid_file.read_text().strip()), signal.SIGKILL)
        self._wait(lambda: not _listening(self.port), "die", 30.0)

    def join(self, seed: "RabbitNode") -> None:
        """Make this freshly started node a member of `seed`'s cluster (its own data goes)."""
        for command in (["stop_app"], ["reset"], ["join_cluster", seed.name], ["start_app"]):
            self.ctl(*command)

    def ctl(self, *args: str) -> str:
        """Run rabbitmqctl against this node; its output."""
        done = subprocess.run(
            ["rabbitmqctl", "-q", "-n", self.name, *args],
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        return done.stdout

    def _wait(self, done: Callable[[], bool], what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                raise RuntimeError(f"RabbitMQ node {self.name} did not {what}; see {self.dir}/log")
            time.sleep(0.1)


@dataclass(frozen=True)
class RabbitCluster:
    """Nodes joined into one cluster; clients get every node's address (AMQP_URL's list)."""

    nodes: tuple[RabbitNode, ...]

    @classmethod
    def create(cls, dir: Path, size: int = 3) -> "RabbitCluster":
        """`size` nodes in folders under `dir`, which the rabbitmq user must be able to enter."""
        dir.mkdir(parents=True, exist_ok=True)
        _give_to_rabbitmq(dir)
        ports = free_ports(2 * size)  # one pick: ports picked apart can be the same one
        return cls(
            tuple(
                RabbitNode.create(dir / f"node{n}", ports[2 * n - 2], ports[2 * n - 1])
                for n in range(1, size + 1)
            )
        )

    @property
    def amqp_url(self) -> str:
        return ",".join(node.amqp_url for node in self.nodes)

    def start(self) -> None:
        """Start every node, then join the others to the first one.

        Queues declared afterwards have a member on every node (a quorum queue's initial
        group is the whole cluster); declared before, they would live on the first only.
        """
        for node in self.nodes:
            node.start()
        for node in self.nodes[1:]:
            node.join(self.nodes[0])

    def stop(self) -> None:
        for node in reversed(self.nodes):
            node.stop()

    def restart(self) -> None:
        """Stop and start every node, one after the other (a rolling restart)."""
        for node in self.nodes:
            node.restart()

    def node(self, name: str) -> RabbitNode:
        return next(node for node in self.nodes if node.name == name)


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _give_to_rabbitmq(*paths: Path) -> None:
    # rabbitmq-server drops to the rabbitmq user, which must own the node's folders.
    if _user_exists("rabbitmq"):
        for path in paths:
            shutil.chown(path, "rabbitmq", "rabbitmq")


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True
