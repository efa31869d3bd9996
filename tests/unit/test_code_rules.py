"""Rules of the code's shape, checked on its syntax trees: each concern has one door.

- Stored documents are read only in shared/db/ (records everywhere else), wire formats only in
  their edge modules: a `thing["key"]` read anywhere else is a document or message read raw.
- pymongo is imported only by shared/db/.
- The environment is read only through Settings.from_env (entry points pass os.environ in).
"""

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APP_PACKAGES = ("shared", "ingest", "fetcher", "compressor", "notifier", "cli")
# Where reading a dict by a literal key is the job: each decodes a format from outside.
EDGES = {
    "shared/db": "MongoDB documents ↔ records",
    "shared/events.py": "MinIO bucket events and our messages",
    "shared/metadata.py": "object metadata",
    "shared/netguard.py": "aiohttp's resolver results",
    "shared/logs.py": "log records",
    "ingest/ops.py": "ASGI scopes and messages",
    "ingest/bodycap.py": "ASGI request messages",
    "ingest/openapi.py": "the OpenAPI document it writes",
}


def app_files() -> Iterator[Path]:
    for package in APP_PACKAGES:
        yield from sorted((ROOT / package).rglob("*.py"))


def relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def is_edge(path: Path) -> bool:
    name = relative(path)
    return any(name == edge or name.startswith(f"{edge}/") for edge in EDGES)


def literal_key_reads(tree: ast.AST) -> Iterator[ast.Subscript]:
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Subscript)
            and isinstance(node.ctx, ast.Load)
            and isinstance(node.slice, ast.Constant)
            and isinstance(node.slice.value, str)
        ):
            yield node


def test_the_rules_see_the_code() -> None:
    files = list(app_files())
    assert len(files) > 40
    edge_reads = sum(
        len(list(literal_key_reads(ast.parse(p.read_text())))) for p in files if is_edge(p)
    )
    assert edge_reads > 10  # the check finds what it looks for where it is allowed


@pytest.mark.parametrize("path", [p for p in app_files() if not is_edge(p)], ids=relative)
def test_no_raw_reads_outside_the_edges(path: Path) -> None:
    reads = [
        f"{relative(path)}:{node.lineno}: {ast.unparse(node)}"
        for node in literal_key_reads(ast.parse(path.read_text()))
    ]
    assert not reads, "read through a record or view instead:\n" + "\n".join(reads)


@pytest.mark.parametrize("path", list(app_files()), ids=relative)
def test_pymongo_only_in_the_database_layer(path: Path) -> None:
    if relative(path).startswith("shared/db/"):
        return
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        assert not any(n == "pymongo" or n.startswith(("pymongo.", "bson")) for n in names), (
            f"{relative(path)}:{node.lineno} imports pymongo: use shared/db/"
        )


@pytest.mark.parametrize("path", list(app_files()), ids=relative)
def test_the_environment_is_read_only_by_settings(path: Path) -> None:
    tree = ast.parse(path.read_text())
    passed_to_settings = {
        id(arg)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "from_env"
        for arg in node.args
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if node.value.id == "os" and node.attr in ("getenv", "environb"):
                pytest.fail(f"{relative(path)}:{node.lineno}: os.{node.attr}: use Settings")
            if node.value.id == "os" and node.attr == "environ":
                assert id(node) in passed_to_settings, (
                    f"{relative(path)}:{node.lineno}: os.environ outside Settings.from_env(…)"
                )
