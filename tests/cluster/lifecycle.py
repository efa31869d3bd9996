"""Starting and stopping what a cluster run needs: the private RabbitMQ cluster and the stack on
it. Every suite that kills broker nodes under two replicas of everything uses these."""

import shutil
import signal
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from deploy.local.rabbit import RabbitCluster
from deploy.local.stack import Stack, StackConfig

SERVERS = ("seaweed", "secantusdb", "images")  # stopped last, by Stack.stop()


@contextmanager
def private_cluster(prefix: str) -> Iterator[RabbitCluster]:
    """Three nodes of the suite's own, in a folder directly under /tmp (removed afterwards):
    the server runs as the rabbitmq user, which cannot enter pytest's root-only temporary
    folders."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield RabbitCluster.create(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def running(config: StackConfig) -> Iterator[Stack]:
    """The stack started (its private nodes first), then stopped however the run ended: the
    functions, gateways and relay first, while the servers they use still answer."""
    stack = Stack(config)
    stack.start()
    try:
        yield stack
    finally:
        try:
            for name in [n for n in reversed(stack.procs) if n not in SERVERS]:
                stack.kill(name, signal.SIGTERM)
        finally:
            stack.stop()
