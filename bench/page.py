"""Benchmark 4b, the web page on a big request (issue 13): Chromium (Playwright) opens the
request's progress view and pages through its rows, each step timed until its rows show.

Run on the scale benchmark's largest request (fetcher stopped: its images stay pending), with
the benchmark tenant's key in the tab's session storage, as the page keeps it.
"""

import json
import shutil
import time
from dataclasses import dataclass

from playwright.async_api import async_playwright, expect

from bench.stackrun import api_key, gateway
from deploy.local.stack import Stack
from tests.browser.chromium import CHROMIUM, CHROMIUM_FLAGS

PAGE_ROWS = 100  # the page's rows per page (ingest/web/js/progress.js)
WITHIN_MS = 60_000


@dataclass(frozen=True)
class PageResult:
    urls: int
    opened_s: float  # navigation → the first rows and the counts shown
    next_s: float  # "Next rows" clicked → the next rows shown
    counts: str  # what the page says of the request's images


async def run(stack: Stack, request_id: str, urls: int) -> PageResult | None:
    """None where Debian's Chromium is missing (`make chromium` installs it)."""
    if shutil.which(CHROMIUM) is None:
        return None
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS
        )
        context = await browser.new_context(viewport={"width": 1280, "height": 900})
        key = json.dumps(api_key(stack))
        await context.add_init_script(f"sessionStorage.setItem('imgpipe.apiKey', {key})")
        page = await context.new_page()
        start = time.monotonic()
        await page.goto(f"{gateway(stack)}/#/requests/{request_id}")
        first = page.get_by_text(f"Rows 1–{PAGE_ROWS}.")
        await expect(first).to_be_visible(timeout=WITHIN_MS)
        counts = page.get_by_test_id("counts")
        await expect(counts).to_contain_text(f" of {urls} ", timeout=WITHIN_MS)
        opened_s = time.monotonic() - start
        start = time.monotonic()
        await page.get_by_role("button", name="Next rows →").click()
        second = page.get_by_text(f"Rows {PAGE_ROWS + 1}–{2 * PAGE_ROWS}.")
        await expect(second).to_be_visible(timeout=WITHIN_MS)
        next_s = time.monotonic() - start
        result = PageResult(urls, opened_s, next_s, await counts.inner_text())
        await browser.close()
    return result
