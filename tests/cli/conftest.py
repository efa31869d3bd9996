"""The `imgpipe` console script against a real local stack of its own (free ports, own vhost)."""

import csv
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from deploy.local.stack import SAMPLE_IMAGES, Stack
from deploy.local.testing import running_stack

HEADER = ["S. No.", "Product Name", "Input Image Urls"]
# Rich draws a live bar when it believes it writes to a terminal; these would make it think so.
TERMINAL_HINTS = ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE")


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    extra_env = {"RETRY_DELAYS_S": "0.2,0.4"}  # a 404 image fails in a second, not minutes
    with running_stack(tmp_path_factory.mktemp("cli-stack"), "imgpipe-cli", extra_env) as stack:
        yield stack


@dataclass(frozen=True)
class Cli:
    """Runs the installed console script with the stack's URL and a key in its environment."""

    exe: Path
    env: dict[str, str]

    def argv(self, *args: str) -> list[str]:
        return [str(self.exe), *args]

    def __call__(self, *args: str, **env: str) -> "subprocess.CompletedProcess[str]":
        return subprocess.run(
            self.argv(*args),
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )


@pytest.fixture(scope="session")
def cli(stack: Stack) -> Cli:
    exe = Path(sys.executable).parent / "imgpipe"  # installed beside the venv's python
    if not exe.exists():
        pytest.fail(f"{exe} is missing: install the package (`pip install -e .`, `make setup`)")
    env = {k: v for k, v in os.environ.items() if k not in TERMINAL_HINTS}
    env["IMGPIPE_URL"] = f"http://127.0.0.1:{stack.config.ports.gateway}"
    env["IMGPIPE_KEY"] = stack.create_key("cli tests", "cli-tests")
    return Cli(exe, env)


def image_url(stack: Stack, name: str) -> str:
    """A sample image on the stack's image server (a missing name answers 404)."""
    return f"http://127.0.0.1:{stack.config.ports.images}/{name}"


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(HEADER)
        writer.writerows(rows)
    return path


@dataclass
class Held:
    """A local web server that holds every request until released: a request stays unfinished.

    GET /NAME waits for `release`, then serves the sample image NAME; `asked` is set on the
    first request. POST (a webhook) is answered 204 and its body kept in `posted`.
    """

    base: str = ""
    asked: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    posted: list[bytes] = field(default_factory=list)

    def url(self, name: str) -> str:
        return f"{self.base}/{name}"


@pytest.fixture(scope="session")
def held() -> Iterator[Held]:
    server_state = Held()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            server_state.asked.set()
            server_state.release.wait(timeout=60)
            body = (SAMPLE_IMAGES / self.path.lstrip("/")).read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            server_state.posted.append(self.rfile.read(length))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server_state.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server_state
    server_state.release.set()
    server.shutdown()
    server.server_close()
    thread.join()
