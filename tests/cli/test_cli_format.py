"""What `imgpipe` prints, from status views as the gateway sends them (no servers)."""

from typing import Any

import msgspec
import pytest

from cli import format as fmt
from cli.gateway import MergedStatus
from cli.main import idempotency_key
from shared.api import UsageView
from shared.status import RequestStatus

CREATED = "2026-11-20T10:00:01.250000+00:00"
NO_LIMITS = {"used": 0, "limit": None}
USAGE = {name: NO_LIMITS for name in ("requests_in_progress", "images_today", "bytes_stored")}


def image(status: str = "done", **fields: Any) -> dict[str, Any]:
    base = {"input_url": "http://img/a.jpg", "status": status, "output_url": None, "error": None}
    unknown = {"format": None, "quality": None, "kept_source": None}
    unknown |= {"score": None, "score_whole": None}
    unknown |= {"width": None, "height": None, "frames": None, "variants": [], "srcset": None}
    unknown |= {"revalidated": None, "reused": None, "output_expired": False}
    return {
        "bytes_in": None,
        "bytes_out": None,
        **unknown,
        **base,
        "timeline": {},
        "hops_ms": {},
        **fields,
    }


def attempt(**fields: Any) -> dict[str, Any]:
    return {"ok": False, "status_code": None, "error": None, "at": CREATED, **fields}


def doc(status: str = "completed", products: list[Any] | None = None, **fields: Any) -> Any:
    """A status view (every page merged) as `imgpipe status` reads it."""
    products = products or []
    images = [i for p in products for i in p["images"]]
    body = {
        "request_id": "ab" * 16,
        "status": status,
        "error": None,
        "filename": "products.csv",
        "quality": 50,
        "created_at": CREATED,
        "completed_at": None,
        "expired_at": None,
        "counts": {
            "total": len(images),
            "done": sum(i["status"] == "done" for i in images),
            "failed": sum(i["status"] == "failed" for i in images),
            "revalidated": sum(bool(i.get("revalidated")) for i in images),
            "reused": sum(bool(i.get("reused")) for i in images),
        },
        "webhook_state": None,
        "webhook_attempts": [],
        "format": "jpeg",
        "effort": "balanced",
        "max_bytes": None,
        "max_width": None,
        "max_height": None,
        "widths": [],
        "metadata": "none",
        "animation": "first",
        "timeline": {},
        "products": products,
        "usage": USAGE,
        **fields,
    }
    return msgspec.convert(body, MergedStatus)


def product(serial: str, name: str, *images: dict[str, Any]) -> dict[str, Any]:
    return {"row": int(serial) - 1, "serial": serial, "product": name, "images": list(images)}


@pytest.mark.parametrize(
    ("status", "code"),
    [
        ("completed", 0),
        ("completed_with_errors", 1),
        ("failed", 2),
        ("expired", 2),
        ("pending", 3),
        ("processing", 3),
    ],
)
def test_exit_codes_follow_the_outcome(status: str, code: int) -> None:
    assert fmt.exit_code(RequestStatus(status)) == code
    assert fmt.is_final(RequestStatus(status)) == (code != 3)


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1536, "1.5 KiB"),
        (5 * 2**20, "5.0 MiB"),
        (3 * 2**40, "3072.0 GiB"),
    ],
)
def test_human_bytes(size: int, text: str) -> None:
    assert fmt.human_bytes(size) == text


def test_times_show_in_utc() -> None:
    assert fmt.when("2026-11-20T11:00:01+01:00") == "2026-11-20 10:00:01 UTC"
    assert fmt.when("2026-11-20T10:00:01") == "2026-11-20 10:00:01 UTC"  # naive: taken as UTC


def test_progress_lines() -> None:
    assert fmt.progress_line(doc("pending")) == "pending: the CSV is not read yet"
    running = doc("processing", [product("1", "A", image(), image("failed"), image("pending"))])
    assert fmt.progress_line(running) == "processing: 2 of 3 images (1 failed)"
    assert fmt.progress_line(doc("failed", error="row 3: no URL")) == "failed: row 3: no URL"


def test_summary_of_a_completed_request() -> None:
    done = doc(
        "completed",
        [product("1", "Cat", image(bytes_in=4096, bytes_out=1024))],
        completed_at="2026-11-20T10:00:04.750000+00:00",
        webhook_state="delivered",
        webhook_attempts=[attempt(ok=True, status_code=204)],
    )
    assert fmt.summary(done, done.products).splitlines() == [
        f"request   {'ab' * 16}",
        "status    completed",
        "file      products.csv (jpeg, quality 50, effort balanced)",
        "created   2026-11-20 10:00:01 UTC",
        "finished  2026-11-20 10:00:04 UTC (3.5 s)",
        "images    1 in all, 1 done, 0 failed",
        "size      4.0 KiB → 1.0 KiB (75 % saved)",
        "webhook   delivered (1 attempt)",
    ]


def test_summary_lists_failed_images_with_their_reasons() -> None:
    some = doc(
        "completed_with_errors",
        [
            product("1", "Cat", image(), image("failed", input_url="http://x/b", error="HTTP 404")),
            product("2", "Dog", image("failed", input_url="http://x/c", error=None)),
        ],
    )
    text = fmt.summary(some, some.products)
    assert "images    3 in all, 1 done, 2 failed" in text
    assert "size" not in text  # no sizes measured
    assert text.endswith(
        "failed images:\n"
        "  S. No. 1 (Cat): http://x/b\n    HTTP 404\n"
        "  S. No. 2 (Dog): http://x/c\n    no reason given"
    )


def test_a_long_list_of_failures_is_cut() -> None:
    many = [image("failed", input_url=f"http://x/{n}", error="gone") for n in range(60)]
    lots = doc("completed_with_errors", [product("1", "Lots", *many)])
    text = fmt.summary(lots, lots.products)
    assert text.count("    gone") == fmt.MAX_FAILURES_SHOWN
    assert text.endswith("… and 10 more (see --json, or the output CSV's Errors column)")


def test_summary_of_a_failed_request_names_the_reason() -> None:
    text = fmt.summary(doc("failed", error="the CSV has no header row"))
    assert "status    failed\nerror     the CSV has no header row" in text


@pytest.mark.parametrize(
    ("state", "attempts", "line"),
    [
        (None, [], None),
        (None, [attempt(status_code=500)], "retrying after 1 attempt: HTTP 500"),
        ("failed", [attempt(error="timed out")] * 4, "gave up after 4 attempts: timed out"),
    ],
)
def test_webhook_lines(state: str | None, attempts: list[Any], line: str | None) -> None:
    assert fmt.webhook_line(doc(webhook_state=state, webhook_attempts=attempts)) == line


def test_requests_table_aligns_columns() -> None:
    views = [
        doc("processing", [product("1", "A", image(), image("failed"), image("pending"))]),
        doc("completed", [product("1", "A", image())], request_id="cd" * 16, filename=""),
    ]
    assert fmt.requests_table(views).splitlines() == [
        "REQUEST                           STATUS      IMAGES          CREATED              FILE",
        f"{'ab' * 16}  processing  2/3 (1 failed)  2026-11-20 10:00:01  products.csv",
        f"{'cd' * 16}  completed   1/1             2026-11-20 10:00:01",
    ]


def test_the_idempotency_key_follows_content_and_options() -> None:
    key = idempotency_key(b"csv", {"quality": "60"})
    assert key == idempotency_key(b"csv", {"quality": "60"})
    assert key.startswith("imgpipe-cli-") and len(key) <= 255
    others = [
        idempotency_key(b"csv!", {"quality": "60"}),
        idempotency_key(b"csv", {"quality": "61"}),
        idempotency_key(b"csv", {}),
        idempotency_key(b"csv", {"quality": "60", "webhook_url": "http://h/"}),
    ]
    assert len({key, *others}) == 5


def test_summary_of_an_auto_request_shows_its_scores_and_ceiling() -> None:
    scored = doc(
        "completed",
        [product("1", "Cat", image(score=71.25), image(score=70.04), image())],
        quality="auto:medium",
        effort="max",
        max_bytes=300_000,
    )
    lines = fmt.summary(scored, scored.products).splitlines()
    assert (
        "file      products.csv (jpeg, quality auto:medium, effort max, at most 293.0 KiB an image)"
        in lines
    )
    assert "scores    SSIMULACRA2 70.0 to 71.2 over 2 images" in lines


def test_summary_names_the_sizes_and_metadata_asked_for() -> None:
    view = doc(max_width=800, widths=[320, 640], metadata="keep", format="webp")
    (file_line,) = [line for line in fmt.summary(view).splitlines() if line.startswith("file")]
    assert file_line == (
        "file      products.csv (webp, quality 50, effort balanced, within 800 × any px, "
        "widths 320,640, metadata keep)"
    )


def test_the_usage_line_shows_each_limit_or_none() -> None:
    usage = msgspec.convert(
        {
            "requests_in_progress": {"used": 1, "limit": 3},
            "images_today": {"used": 6, "limit": None},
            "bytes_stored": {"used": 1536, "limit": 10 * 2**20},
        },
        UsageView,
    )
    line = "1 of 3 requests in progress, 6 images today (no limit), 1.5 KiB of 10.0 MiB stored"
    assert fmt.usage_line(usage) == line
    done = doc("completed", [product("1", "Cat", image(bytes_in=4096, bytes_out=1024))])
    assert fmt.summary(done, done.products, usage).splitlines()[-1] == f"usage     {line}"
    assert not any(s.startswith("usage") for s in fmt.summary(done, done.products).splitlines())
