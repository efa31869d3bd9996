"""Losing a broker node mid-run: a three-node cluster, two replicas of every function and of
the gateway; the node leading the compressor's queue (and, declared through it, the delay
queues) is killed with SIGKILL while images are in flight and messages wait for their retry,
then started again. Nothing may be lost or done twice, and every request gets one webhook."""

import asyncio
import re
import shutil
import time
from collections import Counter
from typing import Any

import aiohttp
import pymongo.errors
import pytest
from pymongo.database import Database

from deploy.local.rabbit import RabbitCluster, RabbitNode
from deploy.local.stack import Stack
from shared.names import ORIGINAL_STORED, QUEUES
from shared.retry import delay_queue
from tests.cluster.conftest import IMAGES, REPLICAS, REPORT, RETRY_DELAYS_S
from tests.cluster.observe import (
    Placement,
    connections,
    held_back,
    placements,
    raft_states,
    replica_work,
)
from tests.cluster.report import Run, table
from tests.faults.checks import FINAL
from tests.faults.invariants import Probe, inspect_request
from tests.faults.queues import Broker
from tests.faults.scenario import RECONCILER_MARKS, finished
from tests.faults.servers import Origin, WebhookReceiver
from tests.faults.workload import Workload, build
from tests.integration.client import own_settings, upload

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(1200)]

NODES = 3
REQUESTS = 4  # two per gateway replica, so both replicas of ingest get a CSV too
DELAY_QUEUES = tuple(delay_queue(float(d)) for d in RETRY_DELAYS_S.split(","))
KILL_AT = 0.25  # share of the images finished when the node dies
DOWN_S = 20.0  # how long it stays down
REJOINS = (ORIGINAL_STORED.name, *DELAY_QUEUES)  # the restarted node must be back in these
STALLED_S = 90.0  # longer than the longest retry backoff and fetch timeouts together
TENANT = "cluster"
STUCK_IMAGE = re.compile(r"image (\S+) is stuck")  # notifier/reconcile.py's log line


async def test_losing_a_queue_leader_loses_and_repeats_nothing(
    stack: Stack,
    cluster: RabbitCluster,
    servers: tuple[Origin, WebhookReceiver],
    db: Database[dict[str, Any]],
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> None:
    origin, hooks = servers
    run = Run(images=IMAGES, requests=REQUESTS, replicas=REPLICAS)
    before = placements(cluster.nodes[0])
    run.members_before = _replication(before)
    # Every queue (work, dead-letter and delay queues) a quorum queue on all three nodes.
    assert run.members_before == {"quorum": len(before)}, before
    assert {spec.name for spec in QUEUES} | set(DELAY_QUEUES) <= set(before)

    api_key = stack.create_key("cluster", TENANT)
    workloads = [build(origin, f"c{n}", IMAGES // REQUESTS) for n in range(REQUESTS)]
    started = time.monotonic()
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {api_key}"}) as http:
        gateways = stack.config.ports.gateways
        ids = [
            await _submit(http, stack, hooks, workload, gateways[n % len(gateways)])
            for n, workload in enumerate(workloads)
        ]

    watcher = cluster.nodes[0]
    run.at_kill = await _moment(db, ids, sum(len(w.images) for w in workloads), watcher)
    leaders = {name: p.leader for name, p in placements(watcher).items()}
    victim = cluster.node(leaders[ORIGINAL_STORED.name])
    survivor = next(node for node in cluster.nodes if node is not victim)
    run.killed = victim.name
    run.led = sorted(q for q, leader in leaders.items() if leader == victim.name)
    # Declared through the first node, every queue starts with its leader there: the delay
    # queues lose theirs together with the compressor's.
    assert set(DELAY_QUEUES) <= set(run.led), leaders
    await _lose_for_a_while(victim, survivor, db, ids, run)

    await _wait_final(db, ids)
    run.run_s = time.monotonic() - started
    probe = Probe(stack, Broker(survivor, survivor.amqp_url, RETRY_DELAYS_S), db, hooks, api_key)
    for request_id, workload in zip(ids, workloads, strict=True):
        await _wait_delivered(hooks, request_id)
        run.outcomes.append(await inspect_request(probe, request_id, workload))
        run.webhooks.append(len({d.event_id for d in hooks.for_request(request_id)}))
    run.drained = not await probe.broker.wait_idle()
    run.held_back = await asyncio.to_thread(held_back, survivor)
    for node in cluster.nodes:  # the nodes' own logs go with the stack's
        shutil.copytree(node.dir / "log", stack.logs / f"rabbitmq-{node.name}", dirs_exist_ok=True)
    run.members_after = _replication(placements(survivor))
    run.work = await asyncio.to_thread(replica_work, stack)
    run.reissued, run.reconciled_otherwise = _reconciled(stack)

    text = table(run)
    path = tmp_path_factory.getbasetemp() / "cluster-results.md"
    path.write_text(text)
    request.config.stash[REPORT] = f"{text}\n(written to {path}; logs in {stack.logs})\n"
    problems = [p for outcome in run.outcomes for p in outcome.problems]
    assert not problems, "\n".join(problems[:30])
    assert run.lost == run.duplicated == 0
    assert run.webhooks == [1] * REQUESTS
    assert run.drained
    assert run.members_after == run.members_before
    assert run.rejoined_s is not None, f"{run.killed} did not rejoin {REJOINS}"
    assert run.kill_to_reconnected is not None, "a process did not reconnect to a survivor"
    assert all(run.work.values()), f"a replica did no work: {run.work}"
    # Retries are held by the functions, not dead-lettered by the delay queues (whose
    # at-least-once dead-lettering held messages back after a leader change, shared/delays.py):
    # no queue may hold a message that is neither ready nor delivered, and every image the
    # reconciler had to re-issue was lost.
    assert not run.held_back, run.held_back
    assert not run.reissued, sorted(run.reissued)
    assert not run.reconciled_otherwise, run.reconciled_otherwise


async def _moment(
    db: Any, ids: list[str], images: int, watcher: RabbitNode
) -> tuple[int, int, int]:
    """Wait until every CSV is fanned out, a quarter of the images finished and messages wait
    in the delay queues; returns (images finished, images in all, messages delayed)."""
    broker = Broker(watcher, watcher.amqp_url, RETRY_DELAYS_S)
    while True:
        await asyncio.sleep(0.2)
        done, total = await _progress(db, ids)
        assert done < images, "the run finished before the node could be killed"
        if total == images and done >= total * KILL_AT:  # listing the queues takes a while
            listed = await asyncio.to_thread(broker.listed)
            # Held by the functions until due: unacknowledged deliveries of the delay queues.
            waiting = (listed[q] for q in DELAY_QUEUES if q in listed)
            if delayed := sum(depth.ready + depth.unacked for depth in waiting):
                return done, total, delayed


async def _lose_for_a_while(
    victim: RabbitNode, survivor: RabbitNode, db: Any, ids: list[str], run: Run
) -> None:
    """Kill the node, time the failover, start it again after DOWN_S, time its return."""
    run.clients = await asyncio.to_thread(connections, victim)
    killed = time.monotonic()
    victim.kill()
    await _reconnected(survivor, run, killed)
    progress = await _progress(db, ids)
    if run.kill_to_reconnected is not None and await _wait_progress(db, ids, progress[0] + 1):
        run.reconnected_to_progress = time.monotonic() - killed - run.kill_to_reconnected
    during = await asyncio.to_thread(placements, survivor)
    run.new_leader = during[ORIGINAL_STORED.name].leader
    run.delay_leaders = {q: during[q].leader for q in DELAY_QUEUES}
    await asyncio.sleep(max(0.0, DOWN_S - (time.monotonic() - killed)))
    run.down_s = time.monotonic() - killed
    restarting = time.monotonic()
    await asyncio.to_thread(victim.start)
    run.restart_s = time.monotonic() - restarting
    run.rejoined_s = await _rejoined(survivor, victim, restarting, REJOINS)


def _reconciled(stack: Stack) -> tuple[set[str], list[str]]:
    """What the notifiers' reconcilers did: the images they re-issued a step of, and their
    other corrections (log lines)."""
    logs = sorted(stack.logs.glob("notifier*.log"))
    lines = [line for log in logs for line in log.read_text(errors="replace").splitlines()]
    marked = [line for line in lines if any(mark in line for mark in RECONCILER_MARKS)]
    images = {m[1] for line in marked if (m := STUCK_IMAGE.search(line))}
    return images, [line for line in marked if not STUCK_IMAGE.search(line)]


def _replication(found: dict[str, Placement]) -> dict[str, int]:
    """How many queues of each type have a member on every node of the cluster."""
    return dict(Counter(p.type for p in found.values() if len(p.members) == NODES))


async def _submit(
    http: aiohttp.ClientSession,
    stack: Stack,
    hooks: WebhookReceiver,
    workload: Workload,
    gateway: int,
) -> str:
    response = await upload(
        http,
        stack,
        workload.csv,
        gateway_url=f"http://127.0.0.1:{gateway}",
        webhook_url=hooks.url(workload.tag),
        quality="60",
        **own_settings(),  # the run's own codec work and objects, not earlier runs' outputs
    )
    assert response.status == 202, await response.text()
    request_id: str = (await response.json())["request_id"]
    return request_id


async def _progress(db: Any, ids: list[str]) -> tuple[int, int]:
    """Images finished (done or failed) and images in all, over the run's requests."""
    try:
        docs = await asyncio.to_thread(lambda: list(db.requests.find({"_id": {"$in": ids}})))
    except pymongo.errors.PyMongoError:
        return 0, 1  # asked again at the next poll
    return sum(finished(d) for d in docs), sum(d.get("total", 0) for d in docs)


async def _statuses(db: Any, ids: list[str]) -> list[str]:
    docs = await asyncio.to_thread(lambda: list(db.requests.find({"_id": {"$in": ids}})))
    return [str(d.get("status")) for d in docs]


async def _wait_progress(db: Any, ids: list[str], wanted: int, within: float = 60.0) -> bool:
    """Whether `wanted` images (or all) have finished within `within` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        now, total = await _progress(db, ids)
        if now >= min(wanted, total):
            return True
        await asyncio.sleep(0.1)
    return False


async def _reconnected(survivor: RabbitNode, run: Run, since: float) -> None:
    """Until the cluster lists as many connections as before the kill (every process
    reconnected to a survivor), for a minute at most; the time and the count go to `run`."""
    while time.monotonic() < since + 60:
        run.clients_back = await asyncio.to_thread(connections, survivor)
        if run.clients_back >= run.clients:
            run.kill_to_reconnected = time.monotonic() - since
            return
        await asyncio.sleep(0.2)


async def _rejoined(
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


async def _wait_final(db: Any, ids: list[str]) -> None:
    """Until every request is final, or no image finished for STALLED_S (the checks then say
    which images are missing)."""
    progress, moved = -1, time.monotonic()
    while not all(status in FINAL for status in await _statuses(db, ids)):
        done, _ = await _progress(db, ids)
        if done > progress:
            progress, moved = done, time.monotonic()
        if time.monotonic() - moved > STALLED_S:
            return
        await asyncio.sleep(0.5)


async def _wait_delivered(hooks: WebhookReceiver, request_id: str, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if any(200 <= d.answered < 300 for d in hooks.for_request(request_id)):
            return
        await asyncio.sleep(0.1)
