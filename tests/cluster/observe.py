"""What the cluster suite reads from RabbitMQ and from the processes: where each queue's
members and leader are, whether a restarted node is back in them, how much work each replica
did (its Prometheus counters) and what the reconcilers did (their logs)."""

import asyncio
import json
import re
import subprocess
import time
import urllib.request
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

from deploy.local.rabbit import RabbitNode
from deploy.local.stack import FUNCTIONS, Stack, replica_name
from tests.faults.scenario import RECONCILER_MARKS

# A replica's work: messages a function handled (any outcome), requests a gateway answered.
MESSAGES, HTTP_REQUESTS = "imgpipe_messages", "imgpipe_http_requests"
STUCK_IMAGE = re.compile(r"image (\S+) is stuck")  # notifier/reconcile.py's log line


@dataclass(frozen=True)
class Placement:
    type: str
    members: tuple[str, ...]
    leader: str


def placements(node: RabbitNode) -> dict[str, Placement]:
    """Every queue's type, members and leader, as `node` sees them."""
    out = node.ctl("list_queues", "-p", "/", "name", "type", "members", "leader")
    found = {}
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) == 4 and parts[0] != "name":
            members = tuple(m.strip() for m in parts[2].strip("[]").split(",") if m.strip())
            found[parts[0]] = Placement(parts[1], members, parts[3])
    return found


def held_back(node: RabbitNode) -> dict[str, int]:
    """Queues holding messages that are neither ready nor unacknowledged: dead-lettered by a
    quorum queue at least once, and not yet confirmed by the queue they go to."""
    out = node.ctl(
        "list_queues", "-p", "/", "name", "messages", "messages_ready", "messages_unacknowledged"
    )
    held = {}
    for line in out.splitlines():
        name, *counts = line.split("\t")
        if len(counts) == 3 and all(c.isdigit() for c in counts):
            total, ready, unacked = map(int, counts)
            if total > ready + unacked:
                held[name] = total - ready - unacked
    return held


def connections(node: RabbitNode) -> int:
    """Client connections the cluster lists (every node's, as `node` sees them)."""
    return sum(1 for line in node.ctl("list_connections", "name").splitlines()[1:] if line)


def raft_states(node: RabbitNode, queue: str) -> dict[str, str]:
    """Each member's Raft state for `queue` ("leader", "follower", …), as `node` sees them;
    empty if it cannot tell (a member down may make the command time out)."""
    try:
        out = subprocess.run(
            [
                *("rabbitmq-queues", "-q", "-n", node.name, "quorum_status", queue),
                *("-p", "/", "--formatter", "json"),
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
        rows = json.loads(out)
    except (subprocess.SubprocessError, ValueError):
        return {}
    return {str(row["Node Name"]): str(row["Raft State"]) for row in rows}


async def rejoined(
    survivor: RabbitNode, victim: RabbitNode, since: float, queues: tuple[str, ...]
) -> float | None:
    """Seconds from the restart until the victim is back in the Raft group (leader or
    follower) of every queue in `queues`, as a survivor sees them; None after two minutes."""
    waiting = list(queues)
    while waiting and time.monotonic() < since + 120:
        state = await asyncio.to_thread(raft_states, survivor, waiting[0])
        if state.get(victim.name) in ("leader", "follower"):
            waiting.pop(0)
        else:
            await asyncio.sleep(0.5)
    return None if waiting else time.monotonic() - since


def reconciled(stack: Stack) -> tuple[set[str], list[str]]:
    """What the notifiers' reconcilers did: the images they re-issued a step of, and their
    other corrections (log lines)."""
    logs = sorted(stack.logs.glob("notifier*.log"))
    lines = [line for log in logs for line in log.read_text(errors="replace").splitlines()]
    marked = [line for line in lines if any(mark in line for mark in RECONCILER_MARKS)]
    images = {m[1] for line in marked if (m := STUCK_IMAGE.search(line))}
    return images, [line for line in marked if not STUCK_IMAGE.search(line)]


def replica_work(stack: Stack) -> dict[str, int]:
    """Messages each function replica handled and requests each gateway replica answered."""
    replicas = range(1, stack.config.replicas + 1)
    ports = stack.config.ports
    work = {
        replica_name(function, n): _counted(ports.metrics[replica_name(function, n)], MESSAGES)
        for function in FUNCTIONS
        for n in replicas
    }
    for n in replicas:
        work[replica_name("gateway", n)] = _counted(ports.gateways[n - 1], HTTP_REQUESTS)
    return work


def _counted(port: int, counter: str) -> int:
    """The sum of a counter's samples on the /metrics page at `port`."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    return round(
        sum(
            sample.value
            for family in text_string_to_metric_families(text)
            if family.name == counter
            for sample in family.samples
            if sample.name == f"{counter}_total"
        )
    )
