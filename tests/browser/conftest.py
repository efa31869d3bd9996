"""The web page in a real browser: Debian's Chromium driven by Playwright, against a local stack
of the tests' own (free ports, own RabbitMQ vhost), started once per session."""

import shutil
from collections.abc import AsyncIterator, Iterator

import pytest
from playwright.async_api import Browser, async_playwright

from deploy.local.stack import Stack
from deploy.local.testing import running_stack
from tests.browser.chromium import CHROMIUM, CHROMIUM_FLAGS


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
