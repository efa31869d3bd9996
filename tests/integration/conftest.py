"""The real local stack, started once per test session on free ports and its own vhost."""

import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from deploy.local.stack import Ports, Stack, StackConfig, ensure_rabbitmq

BROKER = "127.0.0.1:5672"


@pytest.fixture(scope="session")
def vhost() -> Iterator[str]:
    """A RabbitMQ vhost of this test run's own: CI shares the machine's broker."""
    ensure_rabbitmq(f"amqp://guest:guest@{BROKER}/")
    name = f"imgpipe-test-{uuid.uuid4().hex[:8]}"
    subprocess.run(["rabbitmqctl", "-q", "add_vhost", name], check=True)
    subprocess.run(
        ["rabbitmqctl", "-q", "set_permissions", "-p", name, "guest", ".*", ".*", ".*"],
        check=True,
    )
    yield name
    subprocess.run(["rabbitmqctl", "-q", "delete_vhost", name], check=False)


@pytest.fixture(scope="session")
def stack(vhost: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    config = StackConfig(
        dir=tmp_path_factory.mktemp("stack"),
        amqp_url=f"amqp://guest:guest@{BROKER}/{vhost}",
        ports=Ports.free(),
    )
    running = Stack(config)
    running.start()
    yield running
    running.stop()


class Webhooks:
    """A local webhook receiver that records every POST it gets."""

    def __init__(self) -> None:
        self.received: list[dict[str, object]] = []
        self.url = ""


@pytest.fixture(scope="session")
async def webhooks() -> AsyncIterator[Webhooks]:
    hooks = Webhooks()

    async def receive(request: web.Request) -> web.Response:
        hooks.received.append(await request.json())
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    hooks.url = f"http://127.0.0.1:{port}/hook"
    yield hooks
    await runner.cleanup()


@pytest.fixture(scope="session")
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture(scope="session")
def sample_data() -> Path:
    return Path(__file__).resolve().parents[2] / "sample-data"
