"""deploy/rabbitmq: the definitions RabbitMQ loads at boot and the entry point that adds the user.

The broker refuses a declaration whose arguments differ from the existing queue's
(PRECONDITION_FAILED), so the definitions must equal what `declare_topology` declares.
"""

import asyncio
import json
import os
import re
import stat
import subprocess
from pathlib import Path
from typing import Any, cast

import pytest
from aio_pika.abc import AbstractChannel

from deploy import gen_definitions
from shared.broker import declare_topology, queue_arguments
from shared.names import BUCKET_EVENTS_EXCHANGE, DEAD_LETTER_EXCHANGE, QUEUES, WORK_EXCHANGE
from shared.settings import Settings
from tests.deploy.helpers import RABBITMQ_DIR, load_compose, sample_env

DEFINITIONS = RABBITMQ_DIR / "definitions.json"
ENTRYPOINT = RABBITMQ_DIR / "entrypoint.sh"


@pytest.fixture(scope="module")
def definitions() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DEFINITIONS.read_text())
    return loaded


def test_committed_definitions_are_generated_from_the_code() -> None:
    assert DEFINITIONS.read_text() == gen_definitions.render(), (
        "deploy/rabbitmq/definitions.json is stale: run `python -m deploy.gen_definitions`"
    )


def test_the_deployed_settings_declare_nothing_else(definitions: dict[str, Any]) -> None:
    """With compose's settings (retry delays included) the functions declare what is loaded."""
    for name, svc in load_compose(sample_env())["services"].items():
        if "build" not in svc:
            continue
        settings = Settings.from_env({k: str(v) for k, v in svc["environment"].items()})
        channel = gen_definitions.RecordingChannel()
        asyncio.run(declare_topology(cast(AbstractChannel, channel), settings.retry_delays_s))
        assert channel.queues == definitions["queues"], name
        assert channel.exchanges == definitions["exchanges"], name
        assert channel.bindings == definitions["bindings"], name


def test_every_queue_has_the_functions_arguments(definitions: dict[str, Any]) -> None:
    queues = {q["name"]: q for q in definitions["queues"]}
    for spec in QUEUES:
        queue = queues[spec.name]
        assert queue["arguments"] == dict(queue_arguments(spec)), spec.name
        assert queue["durable"] is True and queue["auto_delete"] is False, spec.name
        assert queue["vhost"] == "/"


def test_every_queue_is_bound_as_its_spec_says(definitions: dict[str, Any]) -> None:
    bindings = {
        (b["source"], b["routing_key"], b["destination"])
        for b in definitions["bindings"]
        if b["destination_type"] == "queue"
    }
    for spec in QUEUES:
        for exchange, routing_key in spec.bindings:
            assert (exchange, routing_key, spec.name) in bindings, spec.name


def test_every_queue_has_a_dead_letter_queue(definitions: dict[str, Any]) -> None:
    queues = {q["name"]: q for q in definitions["queues"]}
    bindings = {(b["source"], b["routing_key"], b["destination"]) for b in definitions["bindings"]}
    for spec in QUEUES:
        dead = queues[spec.dead_letter_queue]
        assert dead["durable"] is True
        assert dead["arguments"].get("x-queue-type") == "quorum"
        dead_letter_key = queue_arguments(spec)["x-dead-letter-routing-key"]
        assert (DEAD_LETTER_EXCHANGE, dead_letter_key, spec.dead_letter_queue) in bindings


def test_exchanges_are_durable(definitions: dict[str, Any]) -> None:
    exchanges = {e["name"]: e for e in definitions["exchanges"]}
    assert {BUCKET_EVENTS_EXCHANGE, WORK_EXCHANGE, DEAD_LETTER_EXCHANGE} <= set(exchanges)
    for exchange in exchanges.values():
        assert exchange["durable"] is True and exchange["auto_delete"] is False
        assert exchange["vhost"] == "/"


def test_bucket_events_exchange_matches_what_minio_declares(definitions: dict[str, Any]) -> None:
    """MinIO re-declares its exchange on every publish: durable, direct, not internal, no args
    (docker-compose.yml sets no _AUTO_DELETED/_INTERNAL/_ARGUMENTS on its targets)."""
    (exchange,) = [e for e in definitions["exchanges"] if e["name"] == BUCKET_EVENTS_EXCHANGE]
    assert exchange["type"] == "direct"
    assert exchange["durable"] is True
    assert exchange["auto_delete"] is False and exchange["internal"] is False
    assert exchange["arguments"] == {}


def test_definitions_hold_no_credentials(definitions: dict[str, Any]) -> None:
    assert "users" not in definitions and "permissions" not in definitions
    assert DEFINITIONS.read_text().startswith("{")  # entrypoint.sh splices the user in after it


def test_compose_wires_the_definitions_into_the_broker() -> None:
    """rabbitmq.conf loads the file entrypoint.sh writes, from the files compose mounts."""
    services = load_compose(sample_env())["services"]
    rabbitmq = services["rabbitmq"]
    script = ENTRYPOINT.read_text()
    template = re.search(r"IMGPIPE_DEFINITIONS_TEMPLATE:-([^}]+)\}", script)
    out = re.search(r"IMGPIPE_DEFINITIONS_FILE:-([^}]+)\}", script)
    assert template and out
    mounts = {str(v).split(":")[1]: str(v).split(":")[0] for v in rabbitmq["volumes"]}
    assert mounts[template[1]] == "./deploy/rabbitmq/definitions.json"
    assert mounts["/etc/rabbitmq/rabbitmq.conf"] == "./deploy/rabbitmq/rabbitmq.conf"
    entrypoint_path = rabbitmq["entrypoint"][-1]
    assert mounts[entrypoint_path] == "./deploy/rabbitmq/entrypoint.sh"
    conf = (RABBITMQ_DIR / "rabbitmq.conf").read_text()
    assert re.search(rf"^load_definitions = {re.escape(out[1])}$", conf, re.M)
    assert str(Path(out[1]).parent) in rabbitmq["tmpfs"], "the password would land on disk"
    env = rabbitmq["environment"]
    sample = sample_env()
    assert env["IMGPIPE_RABBITMQ_USER"] == sample["RABBITMQ_USER"]
    assert env["IMGPIPE_RABBITMQ_PASSWORD"] == sample["RABBITMQ_PASSWORD"]


def run_entrypoint(tmp_path: Path, user: str, password: str) -> subprocess.CompletedProcess[str]:
    """entrypoint.sh with the image's docker-entrypoint.sh replaced by a stub."""
    stub = tmp_path / "bin" / "docker-entrypoint.sh"
    stub.parent.mkdir(exist_ok=True)
    stub.write_text('#!/bin/sh\necho "started: $*"\n')
    stub.chmod(stub.stat().st_mode | stat.S_IXUSR)
    env = {
        "PATH": f"{stub.parent}{os.pathsep}{os.environ['PATH']}",
        "IMGPIPE_DEFINITIONS_TEMPLATE": str(DEFINITIONS),
        "IMGPIPE_DEFINITIONS_FILE": str(tmp_path / "run" / "definitions.json"),
        "IMGPIPE_RABBITMQ_USER": user,
        "IMGPIPE_RABBITMQ_PASSWORD": password,
    }
    return subprocess.run(
        ["/bin/sh", str(ENTRYPOINT), "rabbitmq-server"], env=env, capture_output=True, text=True
    )


@pytest.mark.parametrize("password", ["plain-password", 'q"u\\o`t$e%s &/é', "a'b\\\\nc"])
def test_entrypoint_adds_the_user_from_the_environment(
    tmp_path: Path, password: str, definitions: dict[str, Any]
) -> None:
    done = run_entrypoint(tmp_path, "imgpipe", password)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "started: rabbitmq-server\n"  # the image's entry point, same command
    written = tmp_path / "run" / "definitions.json"
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    merged = json.loads(written.read_text())
    assert merged.pop("users") == [
        {"name": "imgpipe", "password": password, "tags": "administrator"}
    ]
    assert merged.pop("permissions") == [
        {"user": "imgpipe", "vhost": "/", "configure": ".*", "write": ".*", "read": ".*"}
    ]
    assert merged == definitions


def test_entrypoint_refuses_control_characters(tmp_path: Path) -> None:
    done = run_entrypoint(tmp_path, "imgpipe", "line\nbreak")
    assert done.returncode != 0
    assert "control characters" in done.stderr
    assert not (tmp_path / "run" / "definitions.json").exists()


def test_entrypoint_needs_a_password(tmp_path: Path) -> None:
    done = run_entrypoint(tmp_path, "imgpipe", "")
    assert done.returncode != 0
    assert "IMGPIPE_RABBITMQ_PASSWORD" in done.stderr
