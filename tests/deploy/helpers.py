"""Reading the deployment files the way their tools would: compose, .env.example, the Dockerfile;
and what the code reads from them (its settings).

Compose's variable syntax (`$$`, `${VAR}`, `${VAR:-default}`, `${VAR:?message}`) and the
Dockerfile's line continuations are small enough to follow here; anything bigger (the compose
schema) is left to a real validator.
"""

import ast
import base64
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
RABBITMQ_DIR = ROOT / "deploy" / "rabbitmq"

# "$$" (a literal "$"), "${NAME…}" or "$NAME".
_VARIABLE = re.compile(
    r"\$(?:(?P<escaped>\$)"
    r"|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
    r"|(?P<plain>[A-Za-z_][A-Za-z0-9_]*))"
)


@dataclass(frozen=True)
class VariableUse:
    name: str
    op: str  # "", ":-", "-", ":?", "?", ":+", "+"
    arg: str


def variable_uses(text: str) -> list[VariableUse]:
    """Every variable compose would interpolate in `text` (escaped `$$` excluded)."""
    uses = []
    for match in _VARIABLE.finditer(text):
        if match["escaped"]:
            continue
        name = match["braced"] or match["plain"]
        uses.append(VariableUse(name, match["op"] or "", match["arg"] or ""))
    return uses


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's interpolation of one string; a missing required variable raises KeyError."""

    def substitute(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        name = match["braced"] or match["plain"]
        op, arg = match["op"] or "", match["arg"] or ""
        value = env.get(name)
        unset_or_empty = not value
        if op in (":-", "-"):
            return arg if (unset_or_empty if op == ":-" else value is None) else str(value)
        if op in (":?", "?"):
            if unset_or_empty if op == ":?" else value is None:
                raise KeyError(f"{name}: {arg}")
            return str(value)
        if op in (":+", "+"):
            return "" if (unset_or_empty if op == ":+" else value is None) else arg
        return value or ""

    return _VARIABLE.sub(substitute, text)


def interpolate_tree(node: Any, env: dict[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, list):
        return [interpolate_tree(item, env) for item in node]
    if isinstance(node, dict):
        return {key: interpolate_tree(value, env) for key, value in node.items()}
    return node


def compose_text() -> str:
    return COMPOSE_FILE.read_text()


def load_compose(env: dict[str, str]) -> dict[str, Any]:
    """docker-compose.yml with anchors merged and variables interpolated from `env`."""
    raw = yaml.safe_load(compose_text())
    assert isinstance(raw, dict)
    return dict(interpolate_tree(raw, env))


def documented_variables() -> set[str]:
    """Names .env.example sets or shows commented out (`NAME=` or `# NAME=`)."""
    names = set()
    for line in ENV_EXAMPLE.read_text().splitlines():
        match = re.match(r"^#?\s*([A-Z][A-Z0-9_]*)=", line)
        if match:
            names.add(match[1])
    return names


def _strings(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, list):
        return [s for item in node for s in _strings(item)]
    if isinstance(node, dict):
        return [s for value in node.values() for s in _strings(value)]
    return []


def compose_variable_uses() -> list[VariableUse]:
    """Every variable use in docker-compose.yml's values (comments are not interpolated)."""
    raw = yaml.safe_load(compose_text())
    return [use for text in _strings(raw) for use in variable_uses(text)]


# Required variables whose value the services validate beyond "not empty".
_SAMPLE_VALUES = {"WEBHOOK_SECRET": "whsec_" + base64.b64encode(bytes(range(32))).decode()}


def sample_env() -> dict[str, str]:
    """What a minimal .env holds: a value for each required variable; the rest keep defaults."""
    return {
        use.name: _SAMPLE_VALUES.get(use.name, f"sample-{use.name.lower().replace('_', '-')}")
        for use in compose_variable_uses()
        if use.op in ("", "?", ":?")
    }


# --- the code's settings -----------------------------------------------------------------


def settings_variables() -> set[str]:
    """Every environment variable shared/settings.py reads: each call like `integer("NAME")`."""
    tree = ast.parse((ROOT / "shared" / "settings.py").read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            value = node.args[0].value
            if isinstance(value, str) and re.fullmatch(r"[A-Z][A-Z0-9]*(_[A-Z0-9]+)*", value):
                names.add(value)
    return names


def required_by(module: str) -> set[str]:
    """What a function's `run(..., requires=(...))` in <module>/__main__.py names."""
    main = ROOT / module / "__main__.py"
    tree = ast.parse(main.read_text()) if main.exists() else ast.Module([], [])
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "run":
            for keyword in node.keywords:
                if keyword.arg == "requires":
                    names |= {ast.literal_eval(e) for e in getattr(keyword.value, "elts", [])}
    return names


# --- Dockerfile ---------------------------------------------------------------------------


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


def _logical_lines(text: str) -> list[str]:
    logical: list[str] = []
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue  # comment lines are dropped, also inside a continued instruction
        if stripped.endswith("\\"):
            pending += stripped[:-1].rstrip() + " "
            continue
        logical.append(pending + stripped)
        pending = ""
    return logical


def dockerfile_global_args() -> dict[str, str]:
    """ARG defaults declared before the first FROM (usable in every FROM line)."""
    args = {}
    for line in _logical_lines(DOCKERFILE.read_text()):
        keyword, _, rest = line.partition(" ")
        if keyword.upper() == "FROM":
            break
        if keyword.upper() == "ARG":
            name, _, default = rest.strip().partition("=")
            args[name] = default
    return args


def dockerfile_stages() -> list[Stage]:
    """The Dockerfile's stages: (INSTRUCTION, arguments) pairs, continuation lines joined."""
    stages: list[Stage] = []
    for line in _logical_lines(DOCKERFILE.read_text()):
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            parts = args.split()
            name = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else None
            stages.append(Stage(parts[0], name))
        elif stages:
            stages[-1].instructions.append((keyword, args.strip()))
    return stages


def dockerignore_patterns() -> list[str]:
    return [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]


def dockerignored(path: str, patterns: list[str]) -> bool:
    """Whether the build context leaves `path` out (last matching pattern wins, `!` re-includes).

    A pattern matching a directory matches everything below it, as in Docker.
    """
    import fnmatch

    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for pattern in patterns:
        include = pattern.startswith("!")
        body = pattern.removeprefix("!").strip("/")
        candidates = [body] + ([body[3:]] if body.startswith("**/") else [])
        if any(fnmatch.fnmatchcase(p, c) for p in prefixes for c in candidates):
            ignored = not include
    return ignored


# --- Kubernetes (deploy/k8s) ----------------------------------------------------------------

K8S_DIR = ROOT / "deploy" / "k8s"
# What render_kustomization follows; a kustomization using more fails, not silently differs.
_KUSTOMIZE_FIELDS = {"apiVersion", "kind", "namespace", "resources", "images"}
_CLUSTER_SCOPED = {"Namespace"}


def _split_image(image: str) -> tuple[str, str]:
    """("registry/name", ":tag" or "@sha256:…" or "") of an image reference."""
    if "@" in image:
        name, _, digest = image.partition("@")
        return name, "@" + digest
    name, colon, tag = image.rpartition(":")
    if colon and "/" not in tag:
        return name, ":" + tag
    return image, ""


def _set_image(image: str, override: dict[str, str]) -> str:
    name, suffix = _split_image(image)
    if "digest" in override:
        suffix = "@" + override["digest"]
    elif "newTag" in override:
        suffix = ":" + override["newTag"]
    return override.get("newName", name) + suffix


def render_kustomization(directory: Path = K8S_DIR) -> list[dict[str, Any]]:
    """The objects `kubectl kustomize <directory>` prints, for the fields this one uses: its
    resource files in order, the namespace set on namespaced objects, `images:` applied.

    kustomize itself is a Go program this machine may lack (test_k8s.py compares the two where
    kubectl is installed).
    """
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unknown = set(kustomization) - _KUSTOMIZE_FIELDS
    if unknown:
        raise ValueError(f"render_kustomization does not follow {sorted(unknown)}")
    overrides = {entry["name"]: entry for entry in kustomization.get("images", [])}
    objects = []
    for resource in kustomization["resources"]:
        for obj in yaml.safe_load_all((directory / resource).read_text()):
            if obj is None:
                continue
            if "namespace" in kustomization and obj["kind"] not in _CLUSTER_SCOPED:
                obj["metadata"]["namespace"] = kustomization["namespace"]
            pod = obj.get("spec", {}).get("template", {}).get("spec", {})
            for container in pod.get("containers", []) + pod.get("initContainers", []):
                override = overrides.get(_split_image(container["image"])[0])
                if override is not None:
                    container["image"] = _set_image(container["image"], override)
            objects.append(obj)
    return objects
