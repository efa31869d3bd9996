"""One stack for the cluster suite: a three-node RabbitMQ cluster of its own (a node of it gets
killed), two replicas of every function and of the gateway, and the faults suite's origin and
webhook receiver. The report is printed at the end of the session and written to a file.

CLUSTER_IMAGES sets how many images the run sends: 400 by default (what `make test` runs,
about a minute and a half on two cores with the cluster's start), 1,000 in `make cluster`.
"""

import os
from collections.abc import Iterator
from typing import Any

import pymongo
import pytest
from pymongo.database import Database

from deploy.local.rabbit import RabbitCluster
from deploy.local.stack import Ports, Stack, StackConfig
from tests.cluster.lifecycle import private_cluster, running
from tests.faults.corpus import Corpus
from tests.faults.servers import Origin, WebhookReceiver, serving

IMAGES = int(os.environ.get("CLUSTER_IMAGES", "400"))
REPLICAS = 2
# Longer than the faults suite's: more messages wait in the delay queues when the node dies.
RETRY_DELAYS_S = "1,2,4,8"
FETCH_TIMEOUT_S = "3"
# The reconciler re-issues the steps of an image whose request made no progress for
# STUCK_AFTER_S, which would hide a message the cluster lost: it waits longer here than any
# legitimate pause of the run (the longest retry backoff is 15 s), and the test accounts for
# every image it re-issues.
RECONCILE_INTERVAL_S = "5"
STUCK_AFTER_S = "30"
REPORT = pytest.StashKey[str]()


@pytest.fixture(scope="package")
def cluster() -> Iterator[RabbitCluster]:
    with private_cluster("imgpipe-cluster-") as nodes:
        yield nodes


@pytest.fixture(scope="package")
def stack(cluster: RabbitCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    config = StackConfig(
        dir=tmp_path_factory.mktemp("cluster-stack"),
        amqp_url=cluster.amqp_url,  # every process gets the three addresses
        ports=Ports.free(REPLICAS),
        extra_env={
            "RETRY_DELAYS_S": RETRY_DELAYS_S,
            "FETCH_TIMEOUT_S": FETCH_TIMEOUT_S,
            "RECONCILE_INTERVAL_S": RECONCILE_INTERVAL_S,
            "STUCK_AFTER_S": STUCK_AFTER_S,
        },
        rabbit=cluster,
        replicas=REPLICAS,
    )
    with running(config) as started:
        yield started


@pytest.fixture(scope="package")
def db(stack: Stack) -> Iterator[Database[dict[str, Any]]]:
    """The stack's database, read directly (closed even when a test fails)."""
    env = stack.config.env()
    with pymongo.MongoClient[dict[str, Any]](
        env["MONGO_URL"], serverSelectionTimeoutMS=3000
    ) as client:
        yield client[env["MONGO_DB"]]


@pytest.fixture(scope="package")
def servers() -> Iterator[tuple[Origin, WebhookReceiver]]:
    corpus = Corpus()
    corpus.add_samples()
    corpus.generate(IMAGES + 20)
    with serving(corpus) as servers:
        yield servers


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if text := terminalreporter.config.stash.get(REPORT, ""):
        terminalreporter.section("broker cluster results")
        terminalreporter.write(text)
