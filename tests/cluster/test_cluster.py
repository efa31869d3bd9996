"""Losing a broker node mid-run: a three-node cluster, two replicas of every function and of
the gateway; the node leading the compressor's queue (and, declared through it, the delay
queues) is killed with SIGKILL while images are in flight and messages wait for their retry,
then started again. Nothing may be lost or done twice, and every request gets one webhook."""

import asyncio
import shutil
import time
from collections import Counter
from typing import Any

import aiohttp
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
    reconciled,
    rejoined,
    replica_work,
)
from tests.cluster.progress import progress, wait_delivered, wait_final
from tests.cluster.report import Run, table
from tests.faults.invariants import Probe, inspect_request
from tests.faults.queues import Broker
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

    await wait_final(db, ids, STALLED_S)
    run.run_s = time.monotonic() - started
    probe = Probe(stack, Broker(survivor, survivor.amqp_url, RETRY_DELAYS_S), db, hooks, api_key)
    for request_id, workload in zip(ids, workloads, strict=True):
        await wait_delivered(hooks, request_id)
        run.outcomes.append(await inspect_request(probe, request_id, workload))
        run.webhooks.append(len({d.event_id for d in hooks.for_request(request_id)}))
    run.drained = not await probe.broker.wait_idle()
    run.held_back = await asyncio.to_thread(held_back, survivor)
    for node in cluster.nodes:  # the nodes' own logs go with the stack's
        shutil.copytree(node.dir / "log", stack.logs / f"rabbitmq-{node.name}", dirs_exist_ok=True)
    run.members_after = _replication(placements(survivor))
    run.work = await asyncio.to_thread(replica_work, stack)
    run.reissued, run.reconciled_otherwise = reconciled(stack)

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
        done, total = await progress(db, ids)
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
    before = await progress(db, ids)
    if run.kill_to_reconnected is not None and await _wait_progress(db, ids, before[0] + 1):
        run.reconnected_to_progress = time.monotonic() - killed - run.kill_to_reconnected
    during = await asyncio.to_thread(placements, survivor)
    run.new_leader = during[ORIGINAL_STORED.name].leader
    run.delay_leaders = {q: during[q].leader for q in DELAY_QUEUES}
    await asyncio.sleep(max(0.0, DOWN_S - (time.monotonic() - killed)))
    run.down_s = time.monotonic() - killed
    restarting = time.monotonic()
    await asyncio.to_thread(victim.start)
    run.restart_s = time.monotonic() - restarting
    run.rejoined_s = await rejoined(survivor, victim, restarting, REJOINS)


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


async def _wait_progress(db: Any, ids: list[str], wanted: int, within: float = 60.0) -> bool:
    """Whether `wanted` images (or all) have finished within `within` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        now, total = await progress(db, ids)
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
