"""The soak (issue 13): requests submitted over the whole run while a random target (a replica
of a function or of the gateway, the relay, a broker node) is killed every 5–15 s. Afterwards
nothing may be lost or done twice, every request is final with one webhook event, the queues
drain with every replica consuming again, and the memory of each function's first replica,
never killed, stays flat (asserted in a run of 10 minutes or more; a shorter one reports it).
"""

import asyncio
import random
import shutil
import time
from collections.abc import Coroutine
from typing import Any

import aiohttp
import pytest

from deploy.local.rabbit import RabbitCluster
from deploy.local.stack import FUNCTIONS, ROOT, Stack, replica_name
from tests.cluster.observe import connections, held_back, reconciled
from tests.cluster.progress import wait_delivered, wait_final
from tests.faults.invariants import Probe, inspect_request
from tests.faults.queues import WORK_QUEUES, Broker
from tests.faults.servers import Origin, WebhookReceiver
from tests.soak.chaos import Chaos
from tests.soak.conftest import (
    DURATION_S,
    IMAGES,
    REPLICAS,
    REPORT,
    REPORT_TO,
    REQUESTS,
    RETRY_DELAYS_S,
    SEED,
    STUCK_AFTER_S,
)
from tests.soak.load import Load, sizes
from tests.soak.report import document, table
from tests.soak.rss import Sampler
from tests.soak.run import Run

LONG_S = 600.0  # the soak: from this long on, RSS flatness is asserted
BASELINE_S = min(120.0, DURATION_S / 3)  # minute 2, or a third of a shorter run
STALLED_S = 150.0  # no image finished: longer than STUCK_AFTER_S and a reconciler's round
NEVER_KILLED = (*FUNCTIONS, "gateway")  # their first replica
TENANT = "soak"

pytestmark = [pytest.mark.soak, pytest.mark.timeout(int(2 * DURATION_S) + 1200)]


async def test_random_kills_under_load_lose_and_repeat_nothing(
    stack: Stack,
    cluster: RabbitCluster,
    servers: tuple[Origin, WebhookReceiver],
    db: Any,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> None:
    origin, hooks = servers
    run = Run(SEED, DURATION_S, IMAGES, REPLICAS, BASELINE_S, DURATION_S >= LONG_S, STUCK_AFTER_S)
    api_key = stack.create_key("soak", TENANT)
    watcher = cluster.nodes[0]
    before = await asyncio.to_thread(connections, watcher)
    started = time.monotonic()
    sampler = Sampler(stack, started)
    sampling = asyncio.create_task(sampler.run())
    chaos = Chaos(stack, cluster, random.Random(SEED), started, RETRY_DELAYS_S)
    try:
        auth = {"Authorization": f"Bearer {api_key}"}
        timeout = aiohttp.ClientTimeout(total=60)
        async with aiohttp.ClientSession(headers=auth, timeout=timeout) as http:
            load = Load(http, stack, origin, hooks)
            plan = sizes(IMAGES, REQUESTS)
            every = DURATION_S / REQUESTS
            await _together(load.run(plan, every, started), chaos, started + DURATION_S)
        run.submitted, run.kills = load.submitted, chaos.kills
        await wait_final(db, [s.request_id for s in run.submitted], STALLED_S)
        run.run_s = time.monotonic() - started
    finally:
        sampler.stop()
        await sampling

    probe = Probe(stack, Broker(watcher, watcher.amqp_url, RETRY_DELAYS_S), db, hooks, api_key)
    for submitted in run.submitted:
        await wait_delivered(hooks, submitted.request_id)
        run.outcomes.append(await inspect_request(probe, submitted.request_id, submitted.workload))
        run.webhooks.append(len({d.event_id for d in hooks.for_request(submitted.request_id)}))
    run.drained = not await probe.broker.wait_idle()
    listed = await asyncio.to_thread(probe.broker.listed)
    run.consumers = {queue: listed[queue].consumers for queue in WORK_QUEUES}
    run.connections = (before, await asyncio.to_thread(connections, watcher))
    run.held_back = await asyncio.to_thread(held_back, watcher)
    run.reissued, run.reconciled_otherwise = reconciled(stack)
    for node in cluster.nodes:  # the nodes' own logs go with the stack's
        shutil.copytree(node.dir / "log", stack.logs / f"rabbitmq-{node.name}", dirs_exist_ok=True)
    lives = {name: sampler.lives(name) for name, _ in sampler.series}
    never = [replica_name(name, 1) for name in NEVER_KILLED]
    assert all(len(lives[name]) == 1 for name in never), "a replica never killed was restarted"
    run.flat = [sampler.flatness(name, BASELINE_S) for name in never]
    killed = sorted({k.target for k in run.kills} & set(lives))
    run.lives = {n: (len(lives[n]), max(kb for life in lives[n] for _, kb in life)) for n in killed}
    _report(run, tmp_path_factory, request, stack)

    failures = run.failures()
    assert not failures, "\n".join(failures)


async def _together(load: Coroutine[Any, Any, None], chaos: Chaos, until: float) -> None:
    """The load and the chaos side by side. If the load fails, the chaos stops (once its
    target is started again); if the chaos fails, the load stops; then the failure is raised."""
    loading = asyncio.create_task(load)
    chaotic = asyncio.create_task(chaos.run(until))
    await asyncio.wait((loading, chaotic), return_when=asyncio.FIRST_EXCEPTION)
    if not chaotic.done():
        chaos.stop()
        await asyncio.wait((chaotic,))
    if not loading.done():
        loading.cancel()
        await asyncio.wait((loading,))
    for task in (loading, chaotic):
        if not task.cancelled():
            task.result()


def _report(
    run: Run, tmp: pytest.TempPathFactory, request: pytest.FixtureRequest, stack: Stack
) -> None:
    text = document(run)
    path = tmp.getbasetemp() / "soak-results.md"
    path.write_text(text)
    written = [path]
    if REPORT_TO:
        (ROOT / REPORT_TO).write_text(text)
        written.append(ROOT / REPORT_TO)
    where = " and ".join(map(str, written))
    request.config.stash[REPORT] = f"{table(run)}\n(written to {where}; logs in {stack.logs})\n"
