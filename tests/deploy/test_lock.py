"""requirements/*.lock agree with pyproject.toml, and the image runs what the tests ran.

`make lock` writes both files; this catches a dependency added to pyproject.toml without a
new lock, and a lock whose runtime pins drift from the dev lock's.
"""

import re
import tomllib
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", re.MULTILINE)


def pins(name: str) -> dict[str, str]:
    text = (ROOT / "requirements" / name).read_text()
    return {canonicalize_name(m[1]): m[2] for m in _PIN.finditer(text)}


def requirements(*extras: str) -> list[Requirement]:
    found = [Requirement(r) for r in PROJECT["dependencies"]]
    for extra in extras:
        found += [Requirement(r) for r in PROJECT["optional-dependencies"][extra]]
    own = canonicalize_name(PROJECT["name"])
    environment = default_environment()
    return [
        r
        for r in found
        if canonicalize_name(r.name) != own and (r.marker is None or r.marker.evaluate(environment))
    ]


@pytest.mark.parametrize(("lock", "extras"), [("app.lock", ()), ("dev.lock", ("dev", "bench"))])
def test_every_requirement_is_pinned_within_its_range(lock: str, extras: tuple[str, ...]) -> None:
    pinned = pins(lock)
    for requirement in requirements(*extras):
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{requirement} is not in requirements/{lock}: run `make lock`"
        assert requirement.specifier.contains(pinned[name], prereleases=True), (
            f"requirements/{lock} pins {name}=={pinned[name]}, outside {requirement}: "
            "run `make lock`"
        )


def test_every_line_carries_hashes() -> None:
    for lock in ("app.lock", "dev.lock"):
        text = (ROOT / "requirements" / lock).read_text()
        assert text.count("--hash=sha256:") >= len(pins(lock)), lock


def test_the_image_runs_the_versions_the_tests_ran() -> None:
    app, dev = pins("app.lock"), pins("dev.lock")
    assert app and {name: dev.get(name) for name in app} == app
