"""docker-compose.yml against shared/names.py, the settings, .env.example and the compose schema.

No Docker engine here: these read the file as compose would and check what a wrong copy would
break at run time (an event routed nowhere, a function that cannot start, a secret default).
"""

import importlib.util
import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from deploy.local.filer_wire import Entry, MetadataEvent
from deploy.local.translate import translate
from shared.names import (
    BUCKET_EVENTS_EXCHANGE,
    BUCKET_ROUTING_KEYS,
    BUCKETS,
    COMPRESSED_BUCKET,
    INBOX_BUCKET,
    ORIGINALS_BUCKET,
)
from tests.deploy.helpers import (
    ROOT,
    compose_variable_uses,
    documented_variables,
    load_compose,
    required_by,
    sample_env,
    settings_variables,
)

FUNCTIONS = {"ingest", "fetcher", "compressor", "notifier"}
ADMIN_PORTS = {9001, 15672}  # MinIO console, RabbitMQ management
PUBLIC_PORTS = {("gateway", 8000), ("minio", 9000)}  # gateway API, S3 API (presigned links)
LOOPBACK = {"127.0.0.1", "::1", "localhost"}
_TARGET = "MINIO_NOTIFY_AMQP_{}_{}"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_compose(sample_env())


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return dict(compose["services"])


def app_services(services: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The services running our image (they are the ones built from deploy/Dockerfile)."""
    return {name: svc for name, svc in services.items() if "build" in svc}


def amqp_targets(services: dict[str, dict[str, Any]]) -> dict[str, dict[str, str]]:
    """MinIO's AMQP targets: ID → their settings (URL, EXCHANGE, ROUTING_KEY, …)."""
    env = services["minio"]["environment"]
    prefix = "MINIO_NOTIFY_AMQP_ENABLE_"
    targets = {}
    for key in env:
        if key.startswith(prefix):
            target_id = key.removeprefix(prefix)
            settings = {}
            for setting in (
                "ENABLE",
                "URL",
                "EXCHANGE",
                "EXCHANGE_TYPE",
                "ROUTING_KEY",
                "DURABLE",
                "DELIVERY_MODE",
                "PUBLISHING_CONFIRMS",
                "QUEUE_DIR",
                "QUEUE_LIMIT",
            ):
                settings[setting] = str(env.get(_TARGET.format(setting, target_id), ""))
            targets[target_id] = settings
    return targets


def init_script(services: dict[str, dict[str, Any]]) -> str:
    command = services["minio-init"]["command"]
    assert isinstance(command, list) and len(command) == 1, "minio-init runs one sh -c script"
    return str(command[0])


# --- MinIO → RabbitMQ ---------------------------------------------------------------------


def test_every_bucket_has_its_own_amqp_target(services: dict[str, dict[str, Any]]) -> None:
    targets = amqp_targets(services)
    by_routing_key = {t["ROUTING_KEY"]: target_id for target_id, t in targets.items()}
    assert len(by_routing_key) == len(targets), "two targets publish with one routing key"
    assert set(by_routing_key) == {BUCKET_ROUTING_KEYS[b] for b in BUCKETS}


def test_targets_publish_durably_with_confirms_to_the_bucket_events_exchange(
    services: dict[str, dict[str, Any]],
) -> None:
    env = sample_env()
    amqp_url = f"amqp://{env['RABBITMQ_USER']}:{env['RABBITMQ_PASSWORD']}@rabbitmq:5672/"
    volumes = [str(v).split(":")[1] for v in services["minio"]["volumes"]]
    for target_id, target in amqp_targets(services).items():
        assert target["ENABLE"] == "on", target_id
        assert target["URL"] == amqp_url, target_id
        assert target["EXCHANGE"] == BUCKET_EVENTS_EXCHANGE, target_id
        assert target["EXCHANGE_TYPE"] == "direct", target_id
        assert target["DURABLE"] == "on", target_id
        assert target["DELIVERY_MODE"] == "2", target_id  # persistent
        assert target["PUBLISHING_CONFIRMS"] == "on", target_id
        queue_dir = target["QUEUE_DIR"]
        assert queue_dir.startswith("/"), f"{target_id}: MinIO wants an absolute queue_dir"
        assert any(queue_dir.startswith(v + "/") for v in volumes), f"{queue_dir} not on a volume"
        assert int(target["QUEUE_LIMIT"]) > 0, target_id
    queue_dirs = [t["QUEUE_DIR"] for t in amqp_targets(services).values()]
    assert len(set(queue_dirs)) == len(queue_dirs), "targets share a queue_dir"


def test_init_job_creates_every_bucket_and_attaches_its_target(
    services: dict[str, dict[str, Any]],
) -> None:
    script = init_script(services)
    target_of = {t["ROUTING_KEY"]: target_id for target_id, t in amqp_targets(services).items()}
    for bucket in BUCKETS:
        assert f"mc mb --ignore-existing local/{bucket}\n" in script
        target_id = target_of[BUCKET_ROUTING_KEYS[bucket]]
        line = (
            f"mc event add --ignore-existing local/{bucket} "
            f"arn:minio:sqs::{target_id}:amqp --event put\n"
        )
        assert line in script, f"{bucket}: no event attached to target {target_id}"
    attached = re.findall(r"mc event add .*local/(\S+) ", script)
    assert sorted(attached) == sorted(BUCKETS), "an event is attached to an unknown bucket"


def test_the_local_relay_routes_like_the_minio_targets(
    services: dict[str, dict[str, Any]],
) -> None:
    """Locally a relay stands in for MinIO: it must publish where the production targets do."""
    from deploy.local import relay

    assert vars(relay)["BUCKET_EVENTS_EXCHANGE"] == BUCKET_EVENTS_EXCHANGE  # what it declares
    routing_keys = {t["ROUTING_KEY"] for t in amqp_targets(services).values()}
    for bucket in BUCKETS:
        directory = f"/buckets/{bucket}"
        event = MetadataEvent(directory, 1, new_entry=Entry("x.csv"), new_parent_path=directory)
        publication = translate(event)
        assert publication is not None
        assert publication.routing_key in routing_keys
        assert publication.routing_key == BUCKET_ROUTING_KEYS[bucket]


# A stand-in for `mc` that answers like MinIO's: it logs each call, checks the policy
# document, refuses a policy attached twice, and keeps each bucket's lifecycle rules in a file
# (removing all of them from a bucket that has none fails as MinIO does).
_FAKE_MC = """\
import json, pathlib, sys
args = sys.argv[1:]
log = pathlib.Path(LOG)
rules_file = pathlib.Path(RULES)
seen = log.read_text().splitlines() if log.exists() else []
with log.open('a') as f: f.write(' '.join(args) + '\\n')
rules = json.loads(rules_file.read_text()) if rules_file.exists() else {}
if args[:3] == ['admin', 'policy', 'create']:
    json.loads(pathlib.Path(args[5]).read_text())  # a valid policy document
if args[:3] == ['admin', 'policy', 'attach'] and ' '.join(args) in seen:
    print('mc: <ERROR> The specified policy change is already in effect.')
    sys.exit(1)
if args[:3] == ['ilm', 'rule', 'rm']:
    assert args[3:5] == ['--all', '--force'], args
    if not rules.get(args[5]):
        print('mc: <ERROR> Unable to fetch lifecycle rules. The lifecycle configuration does '
              'not exist.')
        sys.exit(1)
    rules[args[5]] = []
if args[:3] == ['ilm', 'rule', 'add']:
    assert args[3] == '--expire-days' and int(args[4]) > 0, args
    rules.setdefault(args[5], []).append(int(args[4]))
rules_file.write_text(json.dumps(rules))
"""


def run_init_script(
    services: dict[str, dict[str, Any]], tmp_path: Path, **env: str
) -> subprocess.CompletedProcess[str]:
    """minio-init's script against the fake `mc` (its state in tmp_path), with `env` added."""
    fake_mc = tmp_path / "bin" / "mc"
    fake_mc.parent.mkdir(exist_ok=True)
    code = _FAKE_MC.replace("LOG", repr(str(tmp_path / "mc.log")))
    fake_mc.write_text(
        f"#!{sys.executable}\n" + code.replace("RULES", repr(str(tmp_path / "rules.json")))
    )
    fake_mc.chmod(fake_mc.stat().st_mode | stat.S_IXUSR)
    full_env = {
        **services["minio-init"]["environment"],
        **env,
        "PATH": f"{fake_mc.parent}{os.pathsep}{os.environ['PATH']}",
        "TMPDIR": str(tmp_path),
    }
    return subprocess.run(
        ["/bin/sh", "-c", init_script(services)], env=full_env, capture_output=True, text=True
    )


def lifecycle_rules(tmp_path: Path) -> dict[str, list[int]]:
    """Each bucket's expiry rules (days) as the fake `mc` was left with them."""
    rules: dict[str, list[int]] = json.loads((tmp_path / "rules.json").read_text())
    return {target.removeprefix("local/"): days for target, days in rules.items()}


def test_init_script_runs_and_is_idempotent(
    services: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    """Run minio-init's script twice against a fake `mc` that answers like MinIO's."""
    for _ in range(2):
        done = run_init_script(services, tmp_path)
        assert done.returncode == 0, done.stderr
    calls = (tmp_path / "mc.log").read_text().splitlines()
    for bucket in BUCKETS:
        assert f"mb --ignore-existing local/{bucket}" in calls
    sample = sample_env()
    assert f"admin user add local {sample['S3_ACCESS_KEY']} {sample['S3_SECRET_KEY']}" in calls
    assert sum(c.startswith("event add") for c in calls) == 2 * len(BUCKETS)
    # Retention left at its default: no bucket gets an expiry rule.
    assert lifecycle_rules(tmp_path) == {}
    assert not any(c.startswith("ilm rule add") for c in calls)


def test_init_script_sets_one_expiry_rule_per_bucket_from_the_retention_days(
    services: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    days = {
        "RETAIN_ORIGINALS_DAYS": "7",
        "RETAIN_COMPRESSED_DAYS": "30",
        "RETAIN_REQUESTS_DAYS": "90",
    }
    for _ in range(2):  # every `up` runs it again: still one rule per bucket
        done = run_init_script(services, tmp_path, **days)
        assert done.returncode == 0, done.stderr
    assert lifecycle_rules(tmp_path) == {
        ORIGINALS_BUCKET: [7],
        COMPRESSED_BUCKET: [30],
        INBOX_BUCKET: [90],  # a request's stored CSV goes with the request
    }
    changed = {**days, "RETAIN_ORIGINALS_DAYS": "14", "RETAIN_COMPRESSED_DAYS": "0"}
    done = run_init_script(services, tmp_path, **changed)
    assert done.returncode == 0, done.stderr
    assert lifecycle_rules(tmp_path) == {
        ORIGINALS_BUCKET: [14],
        COMPRESSED_BUCKET: [],  # 0 keeps forever: its rule is gone
        INBOX_BUCKET: [90],
    }


@pytest.mark.parametrize("raw", ["thirty", "-1", "1.5"])
def test_init_script_refuses_a_retention_that_is_not_whole_days(
    services: dict[str, dict[str, Any]], tmp_path: Path, raw: str
) -> None:
    done = run_init_script(services, tmp_path, RETAIN_COMPRESSED_DAYS=raw)
    assert done.returncode != 0
    assert f"RETAIN_COMPRESSED_DAYS must be a whole number of days, got '{raw}'" in done.stderr


def test_compose_deletes_objects_by_ilm_not_by_the_services_sweep(
    services: dict[str, dict[str, Any]],
) -> None:
    for name, svc in app_services(services).items():
        assert svc["environment"]["SWEEP_OBJECTS"] == "false", name
        for variable in ("RETAIN_ORIGINALS_DAYS", "RETAIN_COMPRESSED_DAYS", "RETAIN_REQUESTS_DAYS"):
            # The rules and the services' view of expiry come from the same value.
            uses = {u.op for u in compose_variable_uses() if u.name == variable}
            assert uses == {":-"}, variable
            assert variable in services["minio-init"]["environment"]


# --- functions and gateway ----------------------------------------------------------------


def test_gateway_and_every_function_run_from_the_one_image(
    services: dict[str, dict[str, Any]],
) -> None:
    apps = app_services(services)
    commands = {name: svc["command"] for name, svc in apps.items()}
    assert {tuple(c) for c in commands.values()} == {(f,) for f in FUNCTIONS} | {
        ("ingest.gateway",)
    }
    assert len({svc["image"] for svc in apps.values()}) == 1
    for name, (module,) in commands.items():
        spec = importlib.util.find_spec(module)
        assert spec is not None, f"{name}: no module {module}"
        if spec.submodule_search_locations is not None:  # a package: needs __main__.py
            assert importlib.util.find_spec(f"{module}.__main__"), f"{name}: no {module}.__main__"


def test_functions_can_scale(services: dict[str, dict[str, Any]]) -> None:
    for name in FUNCTIONS:
        svc = services[name]
        assert "container_name" not in svc, f"{name}: a fixed name blocks --scale"
        assert "ports" not in svc, f"{name}: a fixed host port blocks --scale"
        assert svc["restart"] == "unless-stopped", name


def test_gateway_listens_on_all_container_interfaces(
    services: dict[str, dict[str, Any]],
) -> None:
    env = services["gateway"]["environment"]
    assert env["GATEWAY_HOST"] == "0.0.0.0"
    assert [p["target"] for p in services["gateway"]["ports"]] == [int(env["GATEWAY_PORT"])]


def test_every_setting_reaches_the_services(services: dict[str, dict[str, Any]]) -> None:
    """Common settings reach every service; a function's own (`requires`) reach it, required."""
    settings = settings_variables()
    assert {"AMQP_URL", "S3_ENDPOINT", "MONGO_URL"} <= settings  # the scan finds them at all
    own = {name: required_by(name) for name in FUNCTIONS}
    assert own["notifier"], "the scan finds no `requires` at all"
    # Where the gateway listens is the gateway's own setting (python -m ingest.gateway).
    listen = {"GATEWAY_HOST", "GATEWAY_PORT"}
    assert listen <= settings and listen <= set(services["gateway"]["environment"])
    for name, svc in app_services(services).items():
        env = svc["environment"]
        missing = settings - listen - set().union(*own.values()) - set(env)
        assert not missing, f"{name} does not pass {sorted(missing)} (add them to x-app)"
        for variable in own.get(name, set()):
            assert env.get(variable), f"{name} requires {variable}"
            uses = {u.op for u in compose_variable_uses() if u.name == variable}
            assert uses == {":?"}, f"{variable}: compose must refuse to start without it"


def test_dependencies_wait_for_health(services: dict[str, dict[str, Any]]) -> None:
    for name, svc in services.items():
        for dependency, condition in svc.get("depends_on", {}).items():
            wanted = condition["condition"]
            if wanted == "service_healthy":
                assert "healthcheck" in services[dependency], f"{name} waits on {dependency}"
            elif wanted == "service_completed_successfully":
                assert services[dependency].get("restart") == "no", dependency
            else:
                pytest.fail(f"{name} starts without waiting for {dependency} ({wanted})")
    for name in app_services(services):
        assert services[name]["depends_on"] == {
            "rabbitmq": {"condition": "service_healthy"},
            "mongo": {"condition": "service_healthy"},
            "minio-init": {"condition": "service_completed_successfully"},
        }


# --- secrets, ports, images ---------------------------------------------------------------


def test_every_variable_is_documented_in_env_example() -> None:
    used = {use.name for use in compose_variable_uses()}
    documented = documented_variables()
    assert not used - documented, f"undocumented in .env.example: {sorted(used - documented)}"
    assert not documented - used, f"documented but unused: {sorted(documented - used)}"


def test_secrets_have_no_defaults() -> None:
    for use in compose_variable_uses():
        if re.search(r"PASSWORD|SECRET|_USER$|ACCESS_KEY", use.name):
            assert use.op == ":?", f"${{{use.name}}} must be required (${{{use.name}:?…}})"


def test_compose_refuses_to_start_without_credentials() -> None:
    with pytest.raises(KeyError, match="RABBITMQ_PASSWORD"):
        load_compose({k: v for k, v in sample_env().items() if k != "RABBITMQ_PASSWORD"})


def _published(services: dict[str, dict[str, Any]]) -> list[tuple[str, int, str]]:
    """(service, container port, host address) of every published port, both syntaxes."""
    found = []
    for name, svc in services.items():
        for port in svc.get("ports", []):
            if isinstance(port, dict):
                found.append((name, int(port["target"]), str(port.get("host_ip", ""))))
                continue
            parts = str(port).split("/")[0].rsplit(":", 2)
            host_ip = parts[0] if len(parts) == 3 else ""
            found.append((name, int(parts[-1].split("-")[0]), host_ip.strip("[]")))
    return found


def test_admin_consoles_are_not_published_publicly(services: dict[str, dict[str, Any]]) -> None:
    published = _published(services)
    for name, target, host_ip in published:
        if target in ADMIN_PORTS:
            assert host_ip in LOOPBACK, f"{name}:{target} is published on {host_ip or '0.0.0.0'}"
    public = {(name, target) for name, target, host_ip in published if host_ip not in LOOPBACK}
    assert public == PUBLIC_PORTS


def test_every_image_is_pinned(services: dict[str, dict[str, Any]]) -> None:
    for name, svc in services.items():
        image = str(svc["image"])
        if "@sha256:" in image:
            continue
        repository, _, tag = image.rpartition(":")
        assert repository and "/" not in tag, f"{name}: {image} has no tag"
        assert tag != "latest", f"{name}: {image}"
        if "build" not in svc:  # ours is built locally; third-party images pin a release
            assert re.search(r"\d", tag), f"{name}: {image} is not a version"


def test_compose_file_matches_the_compose_specification() -> None:
    validator = Path(sys.executable).with_name("check-jsonschema")
    done = subprocess.run(
        [str(validator), "--builtin-schema", "vendor.compose-spec", "docker-compose.yml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
