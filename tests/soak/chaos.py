"""The soak's chaos: every uniform(5, 15) s one random target is killed with SIGKILL.

Targets are the second (third, …) replica of each function and of the gateway, the relay and
a broker node. The first replica of each function and of the gateway is never killed, so its
memory can be followed over the whole run (tests/soak/rss.py). The kinds are drawn from a
seeded shuffled deck, each kind once per round (the first round starts with a broker node), so
a short run meets most of them too.

A killed process is started again after a pause of 1–3 s, before the next kill. A killed node
is started again after the same pause while the chaos goes on; only one node is ever down: the
next node killed must have every quorum queue it is a member of with all three members online,
so losing it leaves each queue its quorum (2 of 3).
"""

import asyncio
import random
import time
from dataclasses import dataclass, field

from deploy.local.rabbit import RabbitCluster, RabbitNode
from deploy.local.stack import FUNCTIONS, Stack, replica_name
from shared.names import ORIGINAL_STORED
from shared.retry import delay_queue
from tests.cluster.observe import rejoined

KINDS = (*FUNCTIONS, "gateway", "relay", "broker")
INTERVAL_S = (5.0, 15.0)  # between two kills
PAUSE_S = (1.0, 3.0)  # a killed target stays down this long before it is started again
QUORUM_WAIT_S = 180.0  # for every quorum queue to have all its members online again


@dataclass(frozen=True)
class Kill:
    at: float  # seconds since the run started
    kind: str  # one of KINDS
    target: str  # process name, or "node 1", "node 2", … of the cluster
    down_s: float  # kill → started again (a node: → its AMQP port answering)
    rejoined_s: float | None = None  # a node: start → back in the queues' Raft groups
    waited_s: float = 0.0  # a node: waited before the kill for every queue's quorum


@dataclass
class Chaos:
    stack: Stack
    cluster: RabbitCluster
    rng: random.Random
    started: float  # time.monotonic() of the run's start
    retry_delays: str  # RETRY_DELAYS_S: the delay queues a restarted node must rejoin
    kills: list[Kill] = field(default_factory=list)
    _deck: list[str] = field(default_factory=list)
    _rounds: int = 0
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _node_back: asyncio.Task[None] | None = None

    def stop(self) -> None:
        """End the chaos after the current kill (its target is started again first)."""
        self._stop.set()

    async def run(self, until: float) -> None:
        """Kill until time.monotonic() reaches `until` or stop(); then wait for the last node
        killed to be back."""
        try:
            last = time.monotonic()
            while True:
                due = last + self.rng.uniform(*INTERVAL_S)
                if await self._stopped_before(min(due, until)) or due >= until:
                    break
                kind = self._draw()
                if kind == "broker":
                    last = await self._kill_node()
                else:
                    last = await self._kill_process(kind)
        finally:
            if self._node_back is not None:
                await self._node_back

    async def _stopped_before(self, moment: float) -> bool:
        try:
            await asyncio.wait_for(self._stop.wait(), max(0.0, moment - time.monotonic()))
        except TimeoutError:
            return False
        return True

    def _draw(self) -> str:
        if not self._deck:
            self._deck = self.rng.sample(KINDS, len(KINDS))
            if self._rounds == 0:  # the first kill is a node's, so a short run has one too
                self._deck.remove("broker")
                self._deck.append("broker")
            self._rounds += 1
        return self._deck.pop()

    async def _kill_process(self, kind: str) -> float:
        """Kill a process, start it again after a pause; returns the moment of the kill."""
        replicas = self.stack.config.replicas
        name = "relay" if kind == "relay" else replica_name(kind, self.rng.randint(2, replicas))
        killed = time.monotonic()
        await asyncio.to_thread(self.stack.kill, name)
        await asyncio.sleep(self.rng.uniform(*PAUSE_S))
        await asyncio.to_thread(self.stack.revive, name)
        self.kills.append(Kill(killed - self.started, kind, name, time.monotonic() - killed))
        return killed

    async def _kill_node(self) -> float:
        """Kill a node once the last one killed is back and losing this one keeps quorum; it
        is started again in the background. Returns the moment of the kill."""
        if self._node_back is not None:
            await self._node_back
        victim = self.rng.choice(self.cluster.nodes)
        waiting = time.monotonic()
        await _wait_quorum_safe(self._other(victim), victim)
        killed = time.monotonic()
        await asyncio.to_thread(victim.kill)
        self._node_back = asyncio.create_task(self._restart(victim, killed, killed - waiting))
        return killed

    async def _restart(self, victim: RabbitNode, killed: float, waited: float) -> None:
        await asyncio.sleep(self.rng.uniform(*PAUSE_S))
        await asyncio.to_thread(victim.start)
        started = time.monotonic()
        delays = tuple(delay_queue(float(d)) for d in self.retry_delays.split(","))
        queues = (ORIGINAL_STORED.name, *delays)
        back = await rejoined(self._other(victim), victim, started, queues)
        at = killed - self.started
        node = f"node {self.cluster.nodes.index(victim) + 1}"
        self.kills.append(Kill(at, "broker", node, started - killed, back, waited))

    def _other(self, node: RabbitNode) -> RabbitNode:
        return next(n for n in self.cluster.nodes if n is not node)


def quorum_critical(survivor: RabbitNode, victim: RabbitNode) -> list[str]:
    """The quorum queues with a member on `victim` that have fewer than all their members
    online (losing `victim` could leave them without quorum), as `survivor` sees them."""
    out = survivor.ctl("list_queues", "-p", "/", "name", "type", "members", "online")
    critical = []
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) == 4 and parts[1] == "quorum":
            members, online = (set(p.strip("[]").replace(" ", "").split(",")) for p in parts[2:])
            if victim.name in members and not members <= online:
                critical.append(parts[0])
    return critical


async def _wait_quorum_safe(survivor: RabbitNode, victim: RabbitNode) -> None:
    deadline = time.monotonic() + QUORUM_WAIT_S
    while critical := await asyncio.to_thread(quorum_critical, survivor, victim):
        if time.monotonic() > deadline:
            raise AssertionError(f"quorum queues still missing members: {critical[:5]}")
        await asyncio.sleep(1.0)
