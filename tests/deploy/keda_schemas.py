"""JSON Schemas of KEDA's custom resources, derived from KEDA's released CRD files.

kubernetes-validate knows only Kubernetes' own kinds, so tests/deploy/schemas/keda/ holds one
JSON Schema per KEDA kind the manifests use (its README names the release). Regenerate them
from a KEDA release's config/crd/bases/keda.sh_<kind>s.yaml files:

    .venv/bin/python -m tests.deploy.keda_schemas keda.sh_scaledobjects.yaml ...

Each CRD version's OpenAPI v3 schema becomes a JSON Schema as the API server would apply it:
an object that lists its properties takes no others (the server rejects unknown fields under
kubectl's default strict field validation), descriptions are dropped (size), and the
Kubernetes extensions that JSON Schema cannot express are dropped: list types, and CEL rules
(x-kubernetes-validations), which tests/deploy check by hand where the manifests rely on them.
A keyword this script does not know stops it, rather than being silently ignored.
"""

import json
import sys
from pathlib import Path
from typing import Any

import yaml

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas" / "keda"
DRAFT = "http://json-schema.org/draft-07/schema#"

# OpenAPI keywords that mean the same in JSON Schema draft 7.
_KEPT = {"type", "enum", "format", "default", "minimum", "minItems", "minLength", "pattern"}
_DROPPED = {"description", "x-kubernetes-list-type", "x-kubernetes-validations"}
# Expressed by the anyOf beside it (controller-gen writes both).
_DROPPED |= {"x-kubernetes-int-or-string"}


def convert(node: dict[str, Any]) -> dict[str, Any]:
    """One OpenAPI v3 (structural) schema node as JSON Schema."""
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROPPED:
            continue
        if key in _KEPT or key == "required":
            out[key] = value
        elif key == "properties":
            out[key] = {name: convert(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties"):
            out[key] = convert(value) if isinstance(value, dict) else value
        elif key == "anyOf":
            out[key] = [convert(sub) for sub in value]
        else:
            raise ValueError(f"unknown OpenAPI keyword {key!r}: teach keda_schemas.py about it")
    if "properties" in node and "additionalProperties" not in node:
        out["additionalProperties"] = False
    return out


def schemas(crd: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """File name → JSON Schema, one per served version of the CRD."""
    group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
    found = {}
    for version in crd["spec"]["versions"]:
        if not version.get("served"):
            continue
        schema = convert(version["schema"]["openAPIV3Schema"])
        api_version = f"{group}/{version['name']}"
        # The CRD leaves apiVersion and kind free strings; a manifest must name this kind.
        schema["properties"]["apiVersion"] = {"const": api_version}
        schema["properties"]["kind"] = {"const": kind}
        schema["required"] = sorted({*schema.get("required", []), "apiVersion", "kind"})
        found[f"{kind.lower()}-{version['name']}.json"] = {
            "$schema": DRAFT,
            "title": f"{kind} ({api_version})",
            **schema,
        }
    return found


def main(paths: list[str]) -> None:
    for path in paths:
        for name, schema in schemas(yaml.safe_load(Path(path).read_text())).items():
            (SCHEMA_DIR / name).write_text(json.dumps(schema, indent=1, sort_keys=True) + "\n")
            print(f"wrote {SCHEMA_DIR / name}")


if __name__ == "__main__":
    main(sys.argv[1:])
