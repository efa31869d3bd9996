"""A private RabbitMQ node, for tests that stop or restart the broker.

The machine's own node (127.0.0.1:5672) is shared with other runs and is never restarted by
tests; this one has its own name, ports, data and config in a folder of the test's own.
"""

import os
import pwd
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


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
        # rabbitmq-server drops to the rabbitmq user, which must own the folder.
        if _user_exists("rabbitmq"):
            for path in (dir, *dir.iterdir()):
                shutil.chown(path, "rabbitmq", "rabbitmq")
        return node

    @property
    def amqp_url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def start(self, timeout: float = 60.0) -> None:
        env = {
            **os.environ,
            "RABBITMQ_NODENAME": self.name,
            "RABBITMQ_CONFIG_FILE": str(self.dir / "rabbitmq.conf"),
            "RABBITMQ_CONF_ENV_FILE": str(self.dir / "rabbitmq-env.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.dir / "enabled_plugins"),
            "RABBITMQ_MNESIA_BASE": str(self.dir / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.dir / "log"),
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

    def _wait(self, done: Callable[[], bool], what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                raise RuntimeError(f"RabbitMQ node {self.name} did not {what}; see {self.dir}/log")
            time.sleep(0.1)


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True
