"""deploy/k8s against Kubernetes' and KEDA's schemas, docker-compose.yml and the code.

No cluster here: the kustomization is rendered (tests/deploy/helpers.py), every object is
validated offline (kubernetes-validate for Kubernetes 1.37, the vendored KEDA schemas for
KEDA's kinds), and the manifests are checked against what the code reads, serves and consumes.
"""

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from ingest.gateway import create_app
from shared.cpus import available_cpus
from shared.names import QUEUES
from shared.settings import Settings
from tests.deploy.helpers import (
    K8S_DIR,
    ROOT,
    dockerfile_stages,
    load_compose,
    render_kustomization,
    required_by,
    sample_env,
    settings_variables,
)

KUBERNETES_VERSION = "1.37.0"
KEDA_SCHEMAS = Path(__file__).resolve().parent / "schemas" / "keda"
SETTINGS_CONFIGMAP = "imgpipe-settings"
GATEWAY_MODULE = "ingest.gateway"
# Where the gateway listens: its own setting, set on its Deployment (as in compose).
LISTEN = {"GATEWAY_HOST", "GATEWAY_PORT"}

Object = dict[str, Any]


@pytest.fixture(scope="module")
def objects() -> list[Object]:
    return render_kustomization()


def by_kind(objects: list[Object], kind: str) -> dict[str, Object]:
    return {obj["metadata"]["name"]: obj for obj in objects if obj["kind"] == kind}


def container(deployment: Object) -> Object:
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    return dict(only)


@pytest.fixture(scope="module")
def app_commands() -> dict[str, list[str]]:
    """Compose's services running our image → their command (the module `python -m` runs)."""
    services = load_compose(sample_env())["services"]
    return {name: svc["command"] for name, svc in services.items() if "build" in svc}


@pytest.fixture(scope="module")
def functions(app_commands: dict[str, list[str]]) -> set[str]:
    """The queue consumers: every app service but the gateway."""
    return {name for name, command in app_commands.items() if command != [GATEWAY_MODULE]}


def secret_variables() -> set[str]:
    """Settings kept out of repr and logs (shared/settings.py): those that hold credentials."""
    return {f.name.upper() for f in dataclasses.fields(Settings) if not f.repr}


def configmap(objects: list[Object]) -> dict[str, str]:
    return dict(by_kind(objects, "ConfigMap")[SETTINGS_CONFIGMAP]["data"])


def container_env(objects: list[Object], spec: Object) -> dict[str, Object]:
    """What reaches a container: name → {"value": …} or {"valueFrom": …}; env beats envFrom."""
    env: dict[str, Object] = {}
    for source in spec.get("envFrom", []):
        data = by_kind(objects, "ConfigMap")[source["configMapRef"]["name"]]["data"]
        env.update({name: {"value": value} for name, value in data.items()})
    env.update({var["name"]: var for var in spec.get("env", [])})
    return env


# --- schemas --------------------------------------------------------------------------------


def test_kustomization_lists_every_manifest() -> None:
    listed = yaml.safe_load((K8S_DIR / "kustomization.yaml").read_text())["resources"]
    present = sorted(p.name for p in K8S_DIR.glob("*.yaml") if p.name != "kustomization.yaml")
    assert sorted(listed) == present


def test_render_agrees_with_kubectl_kustomize(objects: list[Object]) -> None:
    """The Python rendering is what kustomize itself makes (where kubectl is installed)."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("no kubectl on this machine: the Python rendering stands alone")
    done = subprocess.run(
        [kubectl, "kustomize", str(K8S_DIR)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr

    def key(obj: Object) -> tuple[str, str]:
        return obj["kind"], obj["metadata"]["name"]

    rendered = sorted((o for o in yaml.safe_load_all(done.stdout) if o), key=key)
    assert rendered == sorted(objects, key=key)


def test_kubernetes_objects_match_the_kubernetes_schemas(objects: list[Object]) -> None:
    core = [obj for obj in objects if not obj["apiVersion"].startswith("keda.sh/")]
    assert {"Deployment", "Service", "PodDisruptionBudget", "ConfigMap"} <= {
        obj["kind"] for obj in core
    }
    errors = []
    for obj in core:
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            where = "/".join(map(str, exc.path))
            errors.append(f"{obj['kind']} {obj['metadata']['name']}: {where}: {exc.message}")
    assert not errors


def test_keda_objects_match_the_keda_schemas(objects: list[Object]) -> None:
    keda = [obj for obj in objects if obj["apiVersion"].startswith("keda.sh/")]
    assert {"ScaledObject", "TriggerAuthentication"} <= {obj["kind"] for obj in keda}
    for obj in keda:
        version = obj["apiVersion"].split("/")[1]
        schema_file = KEDA_SCHEMAS / f"{obj['kind'].lower()}-{version}.json"
        assert schema_file.exists(), f"no vendored schema for {obj['kind']} {obj['apiVersion']}"
        schema = json.loads(schema_file.read_text())
        errors = [
            f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in jsonschema.Draft7Validator(schema).iter_errors(obj)
        ]
        assert not errors, f"{obj['kind']} {obj['metadata']['name']}: {errors}"


def test_vendored_keda_schemas_reject_what_keda_would() -> None:
    """The schemas are not vacuous: a misspelt field and a number for a string fail."""
    schema = json.loads((KEDA_SCHEMAS / "scaledobject-v1alpha1.json").read_text())
    spec: Object = {
        "scaleTargetRef": {"name": "x"},
        "triggers": [{"type": "rabbitmq", "metadata": {}}],
    }

    def scaled_object(spec: Object) -> Object:
        return {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "spec": spec}

    validator = jsonschema.Draft7Validator(schema)
    assert validator.is_valid(scaled_object(spec))
    assert not validator.is_valid(scaled_object({**spec, "minReplicas": 1}))
    trigger = {"type": "rabbitmq", "metadata": {"value": 5}}
    assert not validator.is_valid(scaled_object({**spec, "triggers": [trigger]}))


def test_every_object_is_in_the_namespace(objects: list[Object]) -> None:
    (namespace,) = by_kind(objects, "Namespace")
    for obj in objects:
        if obj["kind"] != "Namespace":
            assert obj["metadata"]["namespace"] == namespace, obj["metadata"]["name"]


# --- the gateway and the functions ------------------------------------------------------------


def test_every_compose_app_service_has_a_deployment_running_its_module(
    objects: list[Object], app_commands: dict[str, list[str]]
) -> None:
    deployments = by_kind(objects, "Deployment")
    assert set(deployments) == set(app_commands)
    images = {container(d)["image"] for d in deployments.values()}
    (override,) = yaml.safe_load((K8S_DIR / "kustomization.yaml").read_text())["images"]
    assert images == {f"{override['newName']}:{override['newTag']}"}, "one image, kustomize's"
    for name, command in app_commands.items():
        spec = container(deployments[name])
        # The image's ENTRYPOINT is `python -m`: args replace only its CMD (the module).
        assert "command" not in spec, name
        assert spec["args"] == command, name


def test_selectors_match_the_pods(objects: list[Object]) -> None:
    deployments = by_kind(objects, "Deployment")
    pod_labels = {n: d["spec"]["template"]["metadata"]["labels"] for n, d in deployments.items()}

    def selected(selector: dict[str, str]) -> set[str]:
        return {n for n, labels in pod_labels.items() if selector.items() <= labels.items()}

    for name, deployment in deployments.items():
        assert selected(deployment["spec"]["selector"]["matchLabels"]) == {name}
    for name, pdb in by_kind(objects, "PodDisruptionBudget").items():
        assert selected(pdb["spec"]["selector"]["matchLabels"]) == {name}, f"PDB {name}"
    for name, service in by_kind(objects, "Service").items():
        assert selected(service["spec"]["selector"]) == {name}, f"Service {name}"


def test_every_deployment_has_a_disruption_budget_that_lets_a_node_drain(
    objects: list[Object],
) -> None:
    pdbs = by_kind(objects, "PodDisruptionBudget")
    assert set(pdbs) == set(by_kind(objects, "Deployment"))
    for name, pdb in pdbs.items():
        # minAvailable: 1 on a one-replica function would block every drain.
        assert pdb["spec"].get("maxUnavailable") == 1, name
        assert "minAvailable" not in pdb["spec"], name


def test_the_functions_scale_with_keda_and_the_gateway_on_cpu(
    objects: list[Object], functions: set[str]
) -> None:
    scaled = by_kind(objects, "ScaledObject")
    assert set(scaled) == functions, "one ScaledObject per function, none for the gateway"
    for name, so in scaled.items():
        assert so["spec"]["scaleTargetRef"] == {"name": name}  # a Deployment of that name
        # The CRD's CEL rule, which the JSON Schema cannot carry.
        spec = so["spec"]
        assert spec.get("minReplicaCount", 0) <= spec.get("maxReplicaCount", 100), name
    (gateway,) = set(by_kind(objects, "Deployment")) - functions
    (hpa,) = by_kind(objects, "HorizontalPodAutoscaler").values()
    target = {"apiVersion": "apps/v1", "kind": "Deployment", "name": gateway}
    assert hpa["spec"]["scaleTargetRef"] == target
    assert hpa["spec"]["minReplicas"] >= 2, "one gateway keeps serving while another moves"
    for deployment in by_kind(objects, "Deployment").values():
        assert "replicas" not in deployment["spec"], "the autoscalers own the replica counts"


def test_the_notifier_never_scales_to_zero(objects: list[Object]) -> None:
    """Its reconciler and retention sweep run only inside a notifier process."""
    assert by_kind(objects, "ScaledObject")["notifier"]["spec"]["minReplicaCount"] >= 1


# --- what the code consumes, serves and reads -------------------------------------------------


# Secret values the services validate at startup beyond "not empty" (compose builds AMQP_URL
# from its parts, so sample_env() has none).
_SECRET_SAMPLES = {"AMQP_URL": "amqp://imgpipe:sample@rabbitmq.imgpipe.svc:5672/"}


def _check_env(objects: list[Object], spec: Object) -> dict[str, str]:
    """The container's environment with sample values for its Secret references."""
    samples = sample_env() | _SECRET_SAMPLES
    env = {}
    for name, var in container_env(objects, spec).items():
        if "value" in var:
            env[name] = var["value"]
        else:
            key = var["valueFrom"]["secretKeyRef"]["key"]
            env[name] = samples.get(name, f"sample-{key}")
    return env


@pytest.fixture(scope="module")
def dry_runs(objects: list[Object]) -> dict[str, str]:
    """Each Deployment's module started with `--check` (settings parsed, nothing connected) in
    its container's environment: deployment → what it printed."""
    printed = {}
    for name, deployment in by_kind(objects, "Deployment").items():
        spec = container(deployment)
        done = subprocess.run(
            [sys.executable, "-m", *spec["args"], "--check"],
            env={"PATH": os.environ["PATH"], **_check_env(objects, spec)},
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, f"{name}: {done.stderr}"
        printed[name] = done.stdout
    return printed


def consumed_queues(printed: str) -> set[str]:
    """The queues a function's `--check` says it would consume (shared/consumer.py)."""
    match = re.search(r"would consume (.+)$", printed, re.MULTILINE)
    assert match, printed
    return set(match[1].split(", "))


def test_every_container_environment_is_a_valid_configuration(dry_runs: dict[str, str]) -> None:
    for name, printed in dry_runs.items():
        assert "configuration ok" in printed, name


def test_every_queue_a_function_consumes_has_a_trigger(
    objects: list[Object], functions: set[str], dry_runs: dict[str, str]
) -> None:
    (auth,) = by_kind(objects, "TriggerAuthentication")
    consumed_by_all: set[str] = set()
    for name, so in by_kind(objects, "ScaledObject").items():
        consumed = consumed_queues(dry_runs[name])
        consumed_by_all |= consumed
        triggers = so["spec"]["triggers"]
        queues = [t["metadata"]["queueName"] for t in triggers]
        assert sorted(queues) == sorted(consumed), f"{name}: triggers are not its queues"
        for trigger in triggers:
            assert trigger["type"] == "rabbitmq", name
            assert trigger["authenticationRef"] == {"name": auth}, name
            metadata = trigger["metadata"]
            assert metadata["mode"] == "QueueLength", name
            # AMQP: the ready messages (those no replica holds), the backlog to scale on.
            assert metadata["protocol"] == "amqp", name
            assert float(metadata["value"]) > 0, name
            assert not {"host", "hostFromEnv"} & set(metadata), "the host comes from the Secret"
    # Every queue of the topology has a consumer, so every one has a trigger.
    assert consumed_by_all == {spec.name for spec in QUEUES}


def test_keda_reads_the_broker_address_the_services_use(objects: list[Object]) -> None:
    (auth,) = by_kind(objects, "TriggerAuthentication").values()
    (ref,) = auth["spec"]["secretTargetRef"]
    assert ref["parameter"] == "host"
    for deployment in by_kind(objects, "Deployment").values():
        amqp = container_env(objects, container(deployment))["AMQP_URL"]
        secret = amqp["valueFrom"]["secretKeyRef"]
        assert (secret["name"], secret["key"]) == (ref["name"], ref["key"])


def test_gateway_probes_are_routes_the_gateway_serves(
    objects: list[Object], functions: set[str]
) -> None:
    (gateway,) = set(by_kind(objects, "Deployment")) - functions
    spec = container(by_kind(objects, "Deployment")[gateway])
    env = _check_env(objects, spec)
    app = create_app(Settings.from_env(env))  # routes only: nothing starts without lifespan
    routes = {getattr(route, "path", None) for route in app.routes}
    ports = {port["name"]: port["containerPort"] for port in spec["ports"]}
    assert env["GATEWAY_HOST"] == "0.0.0.0", "the kubelet and the Service reach the pod's IP"
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        get = spec[probe]["httpGet"]
        assert get["path"] == path, probe
        assert get["path"] in routes, f"{probe}: the gateway serves no {get['path']}"
        assert ports[get["port"]] == int(env["GATEWAY_PORT"]), probe
    (service,) = by_kind(objects, "Service").values()
    assert [p["targetPort"] for p in service["spec"]["ports"]] == ["http"]
    assert ports["http"] == int(env["GATEWAY_PORT"])


def test_function_probes_reach_the_metrics_server(
    objects: list[Object], functions: set[str]
) -> None:
    """Functions serve no /healthz or /readyz; their metrics server (shared/metrics.py,
    prometheus_client's) is what answers HTTP, on METRICS_HOST:METRICS_PORT."""
    for name in functions:
        spec = container(by_kind(objects, "Deployment")[name])
        env = _check_env(objects, spec)
        assert env["METRICS_HOST"] == "0.0.0.0", f"{name}: the kubelet probes the pod's IP"
        ports = {port["name"]: port["containerPort"] for port in spec["ports"]}
        for probe in ("livenessProbe", "readinessProbe"):
            get = spec[probe]["httpGet"]
            assert get["path"] == "/metrics", f"{name} {probe}"
            assert ports[get["port"]] == int(env["METRICS_PORT"]), f"{name} {probe}"


def test_every_setting_reaches_the_containers(objects: list[Object], functions: set[str]) -> None:
    """Common settings reach every container, a function's own (`requires`) reach it."""
    settings = settings_variables()
    own = {name: required_by(name) for name in functions}
    assert own["notifier"], "the scan finds no `requires` at all"
    for name, deployment in by_kind(objects, "Deployment").items():
        env = container_env(objects, container(deployment))
        missing = settings - LISTEN - set().union(*own.values()) - set(env)
        assert not missing, f"{name} does not get {sorted(missing)}"
        assert own.get(name, set()) <= set(env), f"{name} lacks its own settings"
    listen = set(container_env(objects, container(by_kind(objects, "Deployment")["gateway"])))
    assert listen >= LISTEN
    assert set(configmap(objects)) <= settings, "the ConfigMap sets what no code reads"


def test_secrets_come_only_from_secret_references(objects: list[Object]) -> None:
    secrets = secret_variables()
    assert {"AMQP_URL", "MONGO_URL", "S3_SECRET_KEY", "WEBHOOK_SECRET"} <= secrets
    assert not secrets & set(configmap(objects)), "a secret in the ConfigMap"
    assert not by_kind(objects, "Secret"), "the Secret is created by hand, never shipped"
    for name, deployment in by_kind(objects, "Deployment").items():
        for variable, var in container_env(objects, container(deployment)).items():
            if variable in secrets:
                ref = var.get("valueFrom", {}).get("secretKeyRef")
                assert ref is not None, f"{name}: {variable} is not a secretKeyRef"
                assert not ref.get("optional"), f"{name}: {variable} has no default: required"


# --- how the pods run -------------------------------------------------------------------------


def _quantity(raw: str | int) -> float:
    """A Kubernetes quantity as a number: "512Mi" → bytes, "100m" → 0.1 cores."""
    units = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "k": 1e3, "M": 1e6, "G": 1e9}
    match = re.fullmatch(r"([0-9.]+)([A-Za-z]*)", str(raw))
    assert match, raw
    return float(match[1]) * units.get(match[2], 1)


def test_pods_run_as_the_images_user_without_privileges(objects: list[Object]) -> None:
    (user,) = dockerfile_stages()[-1].all("USER")
    uid, gid = (int(part) for part in user.split(":"))
    for name, deployment in by_kind(objects, "Deployment").items():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert (pod["securityContext"]["runAsUser"], pod["securityContext"]["runAsGroup"]) == (
            uid,
            gid,
        ), f"{name}: not the Dockerfile's USER"
        assert pod["automountServiceAccountToken"] is False, name
        context = container(deployment)["securityContext"]
        assert context["allowPrivilegeEscalation"] is False, name
        assert context["readOnlyRootFilesystem"] is True, name
        assert context["capabilities"]["drop"] == ["ALL"], name


def test_every_container_has_requests_and_limits(objects: list[Object]) -> None:
    for name, deployment in by_kind(objects, "Deployment").items():
        resources = container(deployment)["resources"]
        for resource in ("cpu", "memory"):
            request = _quantity(resources["requests"][resource])
            assert 0 < request <= _quantity(resources["limits"][resource]), f"{name} {resource}"


def test_compressor_memory_fits_its_pixel_budget(objects: list[Object]) -> None:
    """deploy/README.md's sizing: ~7 bytes a pixel at the peak plus ~60 MiB. The default budget
    (16 MP per core of the CPU limit) fits the request; one MAX_IMAGE_PIXELS image, worked on
    alone, fits the limit."""
    spec = container(by_kind(objects, "Deployment")["compressor"])
    resources = spec["resources"]
    cores = _quantity(resources["limits"]["cpu"])
    assert cores == int(cores), "a whole number of cores: the codec threads follow it"
    env = _check_env(objects, spec)
    settings = Settings.from_env(env)
    # Unset, the budget is the class default's share per core of this machine, times the
    # cores the limit gives the pod (shared/cpus.py reads the cgroup quota).
    per_core = Settings.compress_pixels_in_flight // available_cpus()
    budget = settings.compress_pixels_in_flight if env["COMPRESS_PIXELS_IN_FLIGHT"] else 0
    budget = budget or per_core * int(cores)
    overhead = 60 * 2**20
    assert _quantity(resources["requests"]["memory"]) >= budget * 7 + overhead
    assert _quantity(resources["limits"]["memory"]) >= settings.max_image_pixels * 7 + overhead
