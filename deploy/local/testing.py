"""Throwaway stacks for test suites: each on free ports, with a RabbitMQ vhost of its own.

CI shares the machine's broker with other runs, so nothing here touches the default vhost.
"""

import subprocess
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from deploy.local.stack import Ports, Stack, StackConfig, ensure_rabbitmq

BROKER = "127.0.0.1:5672"


@contextmanager
def own_vhost(prefix: str) -> Iterator[str]:
    """A fresh vhost on the machine's broker (guest may use it), deleted afterwards."""
    ensure_rabbitmq(f"amqp://guest:guest@{BROKER}/")
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    subprocess.run(["rabbitmqctl", "-q", "add_vhost", name], check=True)
    subprocess.run(
        ["rabbitmqctl", "-q", "set_permissions", "-p", name, "guest", ".*", ".*", ".*"],
        check=True,
    )
    try:
        yield name
    finally:
        subprocess.run(["rabbitmqctl", "-q", "delete_vhost", name], check=False)


def vhost_url(vhost: str) -> str:
    return f"amqp://guest:guest@{BROKER}/{vhost}"


@contextmanager
def running_stack(
    dir: Path, prefix: str, extra_env: Mapping[str, str] | None = None
) -> Iterator[Stack]:
    """The whole stack in `dir`, on free ports and its own vhost; stopped on exit."""
    with own_vhost(prefix) as vhost:
        config = StackConfig(
            dir=dir, amqp_url=vhost_url(vhost), ports=Ports.free(), extra_env=dict(extra_env or {})
        )
        stack = Stack(config)
        stack.start()
        try:
            yield stack
        finally:
            stack.stop()
