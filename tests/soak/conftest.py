"""One stack for the soak suite: a three-node RabbitMQ cluster of its own, two replicas of every
function and of the gateway, and the faults suite's origin and webhook receiver. The report is
printed at the end of the session and written to pytest's temporary folder (and to
SOAK_REPORT, a path from the repository's root, when set: `make soak` writes docs/soak.md).

SOAK_S sets how long requests are submitted and targets killed, SOAK_IMAGES how many images
the requests hold in all: 60 s and 300 images by default (the short version `make test`
runs, about two minutes with the cluster's start); `make soak` runs 600 s and 5,000 images.
SOAK_SEED replays a run's choice of targets and intervals (its timing differs).
"""

import math
import os
import random
from collections.abc import Iterator
from typing import Any

import pymongo
import pytest

from deploy.local.rabbit import RabbitCluster
from deploy.local.stack import Ports, Stack, StackConfig
from tests.cluster.lifecycle import private_cluster, running
from tests.faults.corpus import Corpus
from tests.faults.servers import Origin, WebhookReceiver, serving

DURATION_S = float(os.environ.get("SOAK_S", "60"))
IMAGES = int(os.environ.get("SOAK_IMAGES", "300"))
SEED = int(os.environ.get("SOAK_SEED") or random.SystemRandom().randrange(2**32))
REPORT_TO = os.environ.get("SOAK_REPORT", "")
EVERY_S = 5.0  # about one request this often
REQUESTS = max(2, round(DURATION_S / EVERY_S))  # so at least one per gateway replica
REPLICAS = 2
RETRY_DELAYS_S = "1,2,4,8"  # as the cluster suite's: a node dies with messages in them
# The reconciler re-issues the steps of an image whose request made no progress for
# STUCK_AFTER_S, which would hide a message lost: it waits here longer than a request's
# images may legitimately wait (behind the others in the queues, or for a retry while a node
# is down), and the test accounts for every image it re-issues.
RECONCILE_INTERVAL_S = "5"
STUCK_AFTER_S = "60"
REPORT = pytest.StashKey[str]()


@pytest.fixture(scope="package")
def cluster() -> Iterator[RabbitCluster]:
    with private_cluster("imgpipe-soak-") as nodes:
        yield nodes


@pytest.fixture(scope="package")
def stack(cluster: RabbitCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    config = StackConfig(
        dir=tmp_path_factory.mktemp("soak-stack"),
        amqp_url=cluster.amqp_url,  # every process gets the three addresses
        ports=Ports.free(REPLICAS),
        extra_env={
            "RETRY_DELAYS_S": RETRY_DELAYS_S,
            "RECONCILE_INTERVAL_S": RECONCILE_INTERVAL_S,
            "STUCK_AFTER_S": STUCK_AFTER_S,
        },
        rabbit=cluster,
        replicas=REPLICAS,
    )
    with running(config) as started:
        yield started


@pytest.fixture(scope="package")
def db(stack: Stack) -> Iterator[Any]:
    """The stack's database (pymongo, synchronous: the checks read it in threads)."""
    env = stack.config.env()
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(
        env["MONGO_URL"], serverSelectionTimeoutMS=3000
    )
    with client:
        yield client[env["MONGO_DB"]]


@pytest.fixture(scope="package")
def servers(stack: Stack) -> Iterator[tuple[Origin, WebhookReceiver]]:
    """The origin, and a webhook receiver that verifies each delivery as it arrives: the
    checks run after the whole run, past the signature's 5 minutes of validity."""
    corpus = Corpus()
    corpus.add_samples()
    corpus.generate(max(500, math.ceil(IMAGES / REQUESTS)))  # good() takes distinct ones
    with serving(corpus, stack.config.webhook_secret) as servers:
        yield servers


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if text := terminalreporter.config.stash.get(REPORT, ""):
        terminalreporter.section("soak results")
        terminalreporter.write(text)
