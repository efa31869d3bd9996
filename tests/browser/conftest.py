"""The web page in a real browser: Debian's Chromium driven by Playwright, against a local stack
of the tests' own (free ports, own RabbitMQ vhost), started once per session."""

import shutil
from collections.abc import AsyncIterator, Iterator

import pytest
from playwright.async_api import Browser, async_playwright

from deploy.local.stack import Stack
from deploy.local.testing import running_stack

CHROMIUM = "/usr/bin/chromium"  # Debian's package: `playwright install` cannot download one here
# Without the background-networking flags Chromium keeps calling home, which this network refuses.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    extra_env = {"RETRY_DELAYS_S": "0.2,0.4,0.8"}  # a failing image fails in seconds
    dir = tmp_path_factory.mktemp("browser-stack")
    with running_stack(dir, "imgpipe-browser", extra_env) as stack:
        yield stack


@pytest.fixture(scope="session")
def api_key(stack: Stack) -> str:
    return stack.create_key("browser tests", "browser")


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"{CHROMIUM} is missing: `make setup` installs Debian's chromium")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS
        )
        yield launched
        await launched.close()
