"""One stack for the whole faults suite, with a RabbitMQ node of its own (it gets restarted),
SecantusDB on disk (it gets restarted too), short retry delays, and the suite's own origin
and webhook servers. The results table is printed at the end of the session."""

import shutil
import signal
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pymongo
import pytest

from deploy.local.rabbit import RabbitNode
from deploy.local.seaweed import free_ports
from deploy.local.stack import FUNCTIONS, Ports, Stack, StackConfig
from tests.faults.corpus import Corpus
from tests.faults.invariants import Probe
from tests.faults.queues import Broker
from tests.faults.report import table
from tests.faults.scenario import Scenarios
from tests.faults.servers import Origin, WebhookReceiver, serving
from tests.faults.workload import TOTAL

RETRY_DELAYS_S = "0.2,0.5,1,2"  # 5 attempts in all, about 3.7 s of backoff
FETCH_TIMEOUT_S = "3"
# The reconciler looks every second and re-issues the missing steps of a request without
# progress for 6 s: above the longest legitimate pause of one image (backoff plus a timeout),
# short enough for the suite's time budget.
RECONCILE_INTERVAL_S = "1"
STUCK_AFTER_S = "6"
TENANT = "faults"
RESULTS = pytest.StashKey[str]()


@pytest.fixture(scope="package")
def rabbit_node() -> Iterator[RabbitNode]:
    """A node of the suite's own: restarting the machine's shared broker is not allowed.

    Its folder sits directly under /tmp because the server runs as the rabbitmq user, which
    cannot enter pytest's root-only temporary folders.
    """
    folder = Path(tempfile.mkdtemp(prefix="imgpipe-rabbit-"))
    try:
        yield RabbitNode.create(folder, *free_ports(2))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="package")
def stack(rabbit_node: RabbitNode, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    config = StackConfig(
        dir=tmp_path_factory.mktemp("faults-stack"),  # SecantusDB keeps its data in mongo/
        amqp_url=rabbit_node.amqp_url,
        ports=Ports.free(),
        extra_env={
            "RETRY_DELAYS_S": RETRY_DELAYS_S,
            "FETCH_TIMEOUT_S": FETCH_TIMEOUT_S,
            "RECONCILE_INTERVAL_S": RECONCILE_INTERVAL_S,
            "STUCK_AFTER_S": STUCK_AFTER_S,
        },
        rabbit=rabbit_node,
    )
    running = Stack(config)
    running.start()
    yield running
    # Stack.stop() goes newest first, and a restarted process counts as new: after the
    # scenarios restarted SecantusDB and the relay, the database would go before the
    # functions, which then need a SIGKILL each. Stop the functions first.
    try:
        for name in ("gateway", *FUNCTIONS, "relay"):
            if name in running.procs:
                running.kill(name, signal.SIGTERM)
    finally:
        running.stop()


@pytest.fixture(scope="package")
def servers() -> Iterator[tuple[Origin, WebhookReceiver]]:
    corpus = Corpus()
    corpus.add_samples()
    corpus.generate(TOTAL + 20)
    with serving(corpus) as servers:
        yield servers


@pytest.fixture(scope="package")
async def scenarios(
    stack: Stack,
    rabbit_node: RabbitNode,
    servers: tuple[Origin, WebhookReceiver],
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> AsyncIterator[Scenarios]:
    started = time.monotonic()
    origin, hooks = servers
    mongo: pymongo.MongoClient[dict[str, object]] = pymongo.MongoClient(
        stack.config.env()["MONGO_URL"], serverSelectionTimeoutMS=3000
    )
    assert rabbit_node is stack.config.rabbit
    api_key = stack.create_key("fault injection", TENANT)
    probe = Probe(
        stack,
        Broker(rabbit_node, stack.config.amqp_url, RETRY_DELAYS_S),
        mongo[stack.config.env()["MONGO_DB"]],
        hooks,
        api_key,
    )
    headers = {"Authorization": f"Bearer {api_key}"}
    async with aiohttp.ClientSession(headers=headers) as http:
        suite = Scenarios(probe, origin, http)
        yield suite
    mongo.close()
    text = table(suite.results, time.monotonic() - started)
    path = tmp_path_factory.getbasetemp() / "faults-results.md"
    path.write_text(text)
    request.config.stash[RESULTS] = f"{text}\n(written to {path}; logs in {stack.logs})\n"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if text := terminalreporter.config.stash.get(RESULTS, ""):
        terminalreporter.section("fault-injection results")
        terminalreporter.write(text)
