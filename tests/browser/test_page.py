"""The page at `/`, as a person uses it: key, CSV upload, live progress, gallery, download,
"My requests"; on a desktop and at 375 px wide."""

import csv
import io
import os
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from playwright.async_api import Browser, FilePayload, Page, expect

from deploy.local.stack import Stack

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_CSV = ROOT / "sample-data" / "products.csv"
SCREENSHOT = ROOT / "docs" / "screenshots" / "page.png"
FINISH_S = 60  # a request of a few images finishes in seconds; this is the ceiling


def base(stack: Stack) -> str:
    return f"http://127.0.0.1:{stack.config.ports.gateway}/"


def sample_csv(stack: Stack, extra_rows: str = "") -> bytes:
    """The sample CSV, its URLs pointed at this stack's image server instead of port 8099."""
    text = SAMPLE_CSV.read_text().replace(
        "127.0.0.1:8099", f"127.0.0.1:{stack.config.ports.images}"
    )
    return (text.rstrip("\n") + "\n" + extra_rows).encode()


@asynccontextmanager
async def open_page(browser: Browser, width: int, height: int) -> AsyncIterator[Page]:
    """A fresh tab (its own session storage) that fails the test on any uncaught script error."""
    context = await browser.new_context(
        viewport={"width": width, "height": height}, accept_downloads=True
    )
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    await context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


@pytest.fixture
async def desktop(browser: Browser) -> AsyncIterator[Page]:
    async with open_page(browser, 1280, 900) as page:
        yield page


@pytest.fixture
async def phone(browser: Browser) -> AsyncIterator[Page]:
    async with open_page(browser, 375, 812) as page:
        yield page


async def sign_in(page: Page, stack: Stack, key: str) -> None:
    await page.goto(base(stack))
    await page.get_by_label("API key").fill("imgp_not-a-real-key")
    await page.get_by_role("button", name="Continue").click()
    await expect(page.get_by_role("alert")).to_contain_text("not accepted")
    await page.get_by_label("API key").fill(key)
    await page.get_by_role("button", name="Continue").click()
    await expect(page.get_by_role("heading", name="Compress product images")).to_be_visible()


async def drop_file(page: Page, selector: str, name: str, data: bytes) -> None:
    """Drop a file on an element the way a person's drag from the desktop does."""
    transfer = await page.evaluate_handle(
        """([name, text]) => {
            const transfer = new DataTransfer();
            transfer.items.add(new File([text], name, { type: "text/csv" }));
            return transfer;
        }""",
        [name, data.decode()],
    )
    await page.dispatch_event(selector, "drop", {"dataTransfer": transfer})


async def wait_finished(page: Page) -> str:
    """Wait for the progress view's bar to reach 100 %; return the request id from the URL."""
    await expect(page).to_have_url(re.compile(r"#/requests/[0-9a-f]{32}$"))
    bar = page.get_by_role("progressbar")
    await expect(bar).to_have_attribute("aria-valuenow", "100", timeout=FINISH_S * 1000)
    await expect(page.get_by_test_id("percent")).to_have_text("100 %")
    return page.url.rsplit("/", 1)[1]


async def no_horizontal_scroll(page: Page) -> None:
    overflow = await page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"the page scrolls sideways by {overflow} px"


async def test_upload_watch_gallery_download_and_list(
    desktop: Page, stack: Stack, api_key: str, tmp_path: Path
) -> None:
    page = desktop
    await sign_in(page, stack, api_key)

    # The API's own error is shown next to the form.
    await drop_file(page, "[data-testid=dropzone]", "wrong.csv", b"name,price\nmug,3\n")
    await page.get_by_role("button", name="Compress images").click()
    problem = page.locator("#upload-errors").get_by_role("alert")
    await expect(problem).to_contain_text("Missing column")

    missing = f"http://127.0.0.1:{stack.config.ports.images}/no-such-photo.jpg"
    data = sample_csv(stack, f"5,Lost Poster,{missing}\n")
    await drop_file(page, "[data-testid=dropzone]", "products.csv", data)
    await expect(page.get_by_text("products.csv")).to_be_visible()
    await page.get_by_label("Quality", exact=True).select_option("auto:medium")
    await expect(page.get_by_label("Quality number")).to_be_hidden()  # a level, not a number
    await page.get_by_label("Output format").select_option("webp")
    await page.get_by_label("Effort").select_option("max")
    await page.locator("#max-width").fill("300")  # every sample image is wider
    await page.get_by_label("Extra widths").fill("200, 120")
    await page.get_by_label("Metadata").select_option("keep")
    await page.get_by_label("Keep animations").check()
    await page.get_by_role("button", name="Compress images").click()
    request_id = await wait_finished(page)

    await expect(page.get_by_test_id("counts")).to_contain_text("7 of 7")
    after = page.locator("img[data-role=after]")
    await expect(after).to_have_count(6)  # every image of the sample CSV, compressed
    for index in range(6):  # thumbnails load lazily: bring each into view, then check it
        thumb = after.nth(index)
        await thumb.scroll_into_view_if_needed()
        await expect(thumb).to_have_js_property("complete", True)
        assert await thumb.evaluate("img => img.naturalWidth") > 0
    failed = page.locator("figure[data-status=failed]")
    await expect(failed).to_have_count(1)
    await expect(failed).to_contain_text("Failed: ")
    await expect(failed).to_contain_text("HTTP 404 Not Found")
    await expect(page.get_by_test_id("saved")).to_have_text(re.compile(r"^\d+ %$"))
    # Each compressed image shows the quality chosen for it and the score it reached.
    chosen = page.locator("figure[data-status=done] [data-testid=image-quality]")
    await expect(chosen).to_have_count(6)
    for index in range(6):
        await expect(chosen.nth(index)).to_have_text(re.compile(r"q \d+ · SSIMULACRA2 \d+\.\d"))
    await expect(page.get_by_text("effort max")).to_be_visible()
    await expect(page.get_by_text("within 300 × any px")).to_be_visible()
    await expect(page.get_by_text("metadata keep")).to_be_visible()
    await expect(page.get_by_text("animations kept")).to_be_visible()
    # Each shows its size and links its variants, narrowest first.
    sized = page.locator("figure[data-status=done] [data-testid=image-sizes]")
    await expect(sized).to_have_count(6)
    for index in range(6):
        await expect(sized.nth(index)).to_have_text(
            re.compile(r"^ · 300 × \d+ · 120 w \(.+\) · 200 w \(.+\)$")
        )

    await page.evaluate("window.scrollTo(0, 0)")
    # The README's picture is refreshed on request only, so test runs leave the tree clean.
    shot = SCREENSHOT if os.environ.get("UPDATE_SCREENSHOTS") else tmp_path / "page.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=shot, full_page=True)

    async with page.expect_download() as download_info:
        await page.get_by_role("button", name="Download output CSV").click()
    download = await download_info.value
    assert download.suggested_filename == f"{request_id}-output.csv"
    saved = tmp_path / "output.csv"
    await download.save_as(saved)
    rows = list(csv.DictReader(io.StringIO(saved.read_text(encoding="utf-8-sig"))))
    assert [r["Product Name"] for r in rows][-1] == "Lost Poster"
    assert len(rows) == 5
    outputs = [u for r in rows[:4] for u in r["Output Image Urls"].split(",") if u.strip()]
    assert len(outputs) == 6
    assert all(u.split("?")[0].endswith(".webp") for u in outputs), outputs  # the chosen format
    assert rows[4]["Output Image Urls"].strip() == ""
    assert "404" in rows[4]["Errors"]
    srcsets = [s for r in rows[:4] for s in r["Output Image Srcsets"].split(" | ")]
    assert len(srcsets) == 6
    for srcset in srcsets:  # "<url> 120w, <url> 200w, <output url> 300w"
        assert [part.rsplit(" ", 1)[1] for part in srcset.split(", ")] == ["120w", "200w", "300w"]

    await page.get_by_role("link", name="My requests").click()
    await expect(page.get_by_role("heading", name="My requests")).to_be_visible()
    link = page.locator(f'a[href="#/requests/{request_id}"]')
    await expect(link).to_contain_text("products.csv")
    await expect(link).to_contain_text("Completed with errors")
    await link.click()
    await expect(page.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "100")


async def test_fits_a_375px_phone_without_sideways_scrolling(
    phone: Page, stack: Stack, api_key: str
) -> None:
    page = phone
    await page.goto(base(stack))
    await no_horizontal_scroll(page)
    await sign_in(page, stack, api_key)
    await no_horizontal_scroll(page)

    csv_file = FilePayload(name="phone.csv", mimeType="text/csv", buffer=sample_csv(stack))
    await page.locator("#csv-file").set_input_files(files=[csv_file])
    await page.get_by_role("button", name="Compress images").click()
    await wait_finished(page)
    await expect(page.locator("img[data-role=after]")).to_have_count(6)
    await no_horizontal_scroll(page)

    await page.get_by_role("link", name="My requests").click()
    await expect(page.get_by_role("link", name=re.compile("phone.csv"))).to_be_visible()
    await no_horizontal_scroll(page)
