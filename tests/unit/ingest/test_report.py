"""What the gateway shows: status views and output rows."""

from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, TypeVar

import msgspec
import pytest

from ingest.csvfile import OutputRow
from ingest.report import (
    OutputsKept,
    etag,
    image_view,
    output_row,
    product_view,
    request_view,
    usage_view,
)
from shared.db.codec import record
from shared.quotas import Usage
from shared.records import ImageRecord, RequestRecord, RowRecord, TenantRecord
from shared.status import ImageStatus

RID = "e6ffb05b235749b081bb556eda014c40"
T0 = 1748942065087  # 2025-06-03T09:14:25.087Z in epoch ms
Doc = dict[str, Any]
R = TypeVar("R")


async def aiter_of(docs: Iterable[R]) -> AsyncIterator[R]:
    for doc in docs:
        yield doc


def plain(view: msgspec.Struct) -> Any:
    """A view as its JSON body."""
    return msgspec.to_builtins(view)


def request(doc: Doc) -> RequestRecord:
    """A stored request document, read as the gateway reads it."""
    return record(
        {"tenant": "acme", "filename": "products.csv", "quality": 50, **doc}, RequestRecord
    )


def link(key: str) -> str:
    return f"https://img.example.com/compressed-images/{key}?X-Amz-Signature=abc"


def row(index: int) -> RowRecord:
    doc = {
        "_id": f"{RID}:{index}",
        "request_id": RID,
        "index": index,
        "serial": str(index + 1),
        "product": f"Product {index + 1}",
        "cells": [str(index + 1), f"Product {index + 1}", "urls…"],
    }
    return record(doc, RowRecord)


def image(index: int, slot: int, status: str = "pending", **fields: Any) -> ImageRecord:
    doc = {
        "_id": f"{RID}.{index}.{slot}",
        "request_id": RID,
        "row": index,
        "slot": slot,
        "url": f"https://src.example.com/{index}-{slot}.jpg",
        "status": status,
        **fields,
    }
    return record(doc, ImageRecord)


# --- image_view ---------------------------------------------------------------------------


def test_done_image_with_key_gets_a_link() -> None:
    doc = image(
        0,
        1,
        "done",
        compressed_key=f"{RID}/0-1.jpg",
        bytes_in=59366,
        bytes_out=21873,
        format="jpeg",
        quality=50,
        kept_source=False,
        width=640,
        height=480,
        moments={"published": T0, "fetch_started": T0 + 4, "fetched": T0 + 31},
    )
    assert plain(image_view(doc, link)) == {
        "input_url": "https://src.example.com/0-1.jpg",
        "status": "done",
        "output_url": link(f"{RID}/0-1.jpg"),
        "output_expired": False,
        "error": None,
        "bytes_in": 59366,
        "bytes_out": 21873,
        "format": "jpeg",
        "quality": 50,
        "score": None,
        "score_whole": None,
        "kept_source": False,
        "width": 640,
        "height": 480,
        "frames": None,
        "revalidated": None,
        "reused": None,
        "variants": [],
        "srcset": None,
        "timeline": {
            "published": "2025-06-03T09:14:25.087+00:00",
            "fetch_started": "2025-06-03T09:14:25.091+00:00",
            "fetched": "2025-06-03T09:14:25.118+00:00",
        },
        "hops_ms": {"to_fetcher": 4, "downloading": 27},
    }


def test_variants_get_links_and_a_srcset_ending_with_the_output() -> None:
    variants = [
        {"key": f"{RID}/0-0-{w}w.webp", "width": w, "height": w // 2, "bytes": w * 10}
        for w in (320, 640)
    ]
    doc = image(0, 0, "done", compressed_key=f"{RID}/0-0.webp", width=1000, variants=variants)
    view = image_view(doc, link)
    assert [(v.width, v.height, v.bytes, v.url) for v in view.variants] == [
        (320, 160, 3200, link(f"{RID}/0-0-320w.webp")),
        (640, 320, 6400, link(f"{RID}/0-0-640w.webp")),
    ]
    assert view.srcset == (
        f"{link(f'{RID}/0-0-320w.webp')} 320w, {link(f'{RID}/0-0-640w.webp')} 640w, "
        f"{link(f'{RID}/0-0.webp')} 1000w"
    )
    pending = image(0, 1, "pending", variants=variants)  # never links what is not done
    assert image_view(pending, link).variants == [] and image_view(pending, link).srcset is None


def test_status_enum_compares_like_the_stored_string() -> None:
    doc = image(0, 0, ImageStatus.DONE, compressed_key=f"{RID}/0-0.jpg")
    assert image_view(doc, link).output_url == link(f"{RID}/0-0.jpg")


@pytest.mark.parametrize(
    "doc",
    [
        pytest.param(image(0, 0, "done"), id="done-without-key"),
        pytest.param(image(0, 0, "done", compressed_key=""), id="done-empty-key"),
        pytest.param(image(0, 0, "pending"), id="pending"),
        pytest.param(
            image(0, 0, "failed", compressed_key=f"{RID}/0-0.jpg", error="HTTP 404"),
            id="failed-with-stale-key",
        ),
    ],
)
def test_no_link_unless_done_with_key(doc: ImageRecord) -> None:
    calls: list[str] = []

    def recording_link(key: str) -> str:
        calls.append(key)
        return link(key)

    assert image_view(doc, recording_link).output_url is None
    assert calls == []  # no presigning for images without output


def test_failed_image_view() -> None:
    doc = image(2, 0, "failed", error="not an image (text/html)")
    assert plain(image_view(doc, link)) == {
        "input_url": "https://src.example.com/2-0.jpg",
        "status": "failed",
        "output_url": None,
        "output_expired": False,
        "error": "not an image (text/html)",
        "bytes_in": None,
        "bytes_out": None,
        "format": None,
        "quality": None,
        "score": None,
        "score_whole": None,
        "kept_source": None,
        "width": None,
        "height": None,
        "frames": None,
        "revalidated": None,
        "reused": None,
        "variants": [],
        "srcset": None,
        "timeline": {},
        "hops_ms": {},
    }


# --- request_view -------------------------------------------------------------------------

CREATED = datetime(2025, 6, 3, 9, 14, 25, 87000, tzinfo=UTC)


def test_pending_request_view() -> None:
    doc = {"_id": RID, "status": "pending", "format": "jpeg", "created_at": CREATED}
    assert plain(request_view(request(doc))) == {
        "request_id": RID,
        "status": "pending",
        "error": None,
        "filename": "products.csv",
        "quality": 50,
        "format": "jpeg",
        "effort": "balanced",
        "max_bytes": None,
        "max_width": None,
        "max_height": None,
        "widths": [],
        "metadata": "none",
        "animation": "first",
        "created_at": "2025-06-03T09:14:25.087000+00:00",
        "completed_at": None,
        "expired_at": None,
        "counts": {"total": 0, "done": 0, "failed": 0, "revalidated": 0, "reused": 0},
        "timeline": {},
        "webhook_state": None,
        "webhook_attempts": [],
    }


def test_finished_request_view() -> None:
    completed = CREATED + timedelta(minutes=2)
    attempt_at = datetime(2025, 6, 3, 11, 16, 30, tzinfo=timezone(timedelta(hours=2)))
    doc = {
        "_id": RID,
        "status": "completed_with_errors",
        "filename": "products.csv",
        "quality": 80,
        "format": "webp",
        "created_at": CREATED,
        "completed_at": completed,
        "expired_at": None,
        "moments": {"csv_stored": T0, "ingest_started": T0 + 2, "fanned_out": T0 + 9},
        "total": 7,
        "done": 6,
        "failed": 1,
        "webhook_url": "https://hooks.example.com/imgpipe?token=s3cr3t",
        "header": ["S. No.", "Product Name", "Input Image Urls"],
        "webhook_attempts": [
            {"ok": False, "status_code": 502, "error": "Bad Gateway", "at": attempt_at},
        ],
    }

    view = plain(request_view(request(doc)))

    assert view == {
        "request_id": RID,
        "status": "completed_with_errors",
        "error": None,
        "filename": "products.csv",
        "quality": 80,
        "format": "webp",
        "effort": "balanced",
        "max_bytes": None,
        "max_width": None,
        "max_height": None,
        "widths": [],
        "metadata": "none",
        "animation": "first",
        "created_at": "2025-06-03T09:14:25.087000+00:00",
        "completed_at": "2025-06-03T09:16:25.087000+00:00",
        "expired_at": None,
        "counts": {"total": 7, "done": 6, "failed": 1, "revalidated": 0, "reused": 0},
        "timeline": {
            "csv_stored": "2025-06-03T09:14:25.087+00:00",
            "ingest_started": "2025-06-03T09:14:25.089+00:00",
            "fanned_out": "2025-06-03T09:14:25.096+00:00",
        },
        "webhook_state": None,
        "webhook_attempts": [
            {
                "ok": False,
                "status_code": 502,
                "error": "Bad Gateway",
                "at": "2025-06-03T11:16:30+02:00",
            }
        ],
    }
    assert "s3cr3t" not in str(view)  # the webhook URL may carry a token: not shown
    assert doc["webhook_attempts"][0]["at"] is attempt_at  # the document is not modified


def test_failed_request_view_shows_the_error() -> None:
    doc = {
        "_id": RID,
        "status": "failed",
        "format": "jpeg",
        "error": "The file is empty",
        "created_at": CREATED,
    }
    assert request_view(request(doc)).error == "The file is empty"


# --- product_view and output_row ----------------------------------------------------------


def test_product_view() -> None:
    images = [
        image(3, 0, "done", compressed_key=f"{RID}/3-0.jpg"),
        image(3, 1, "failed", error="HTTP 404"),
    ]
    view = product_view(row(3), images, link)
    assert view.row == 3
    assert view.serial == "4"
    assert view.product == "Product 4"
    assert [i.output_url for i in view.images] == [link(f"{RID}/3-0.jpg"), None]
    assert [i.error for i in view.images] == [None, "HTTP 404"]


def test_output_row_slots_and_errors() -> None:
    images = [
        image(0, 0, "done", compressed_key=f"{RID}/0-0.jpg"),
        image(0, 1, "failed", error="HTTP 404 Not Found"),
        image(0, 2, "done", compressed_key=f"{RID}/0-2.jpg"),
        image(0, 3, "pending"),
    ]

    result = output_row(row(0), images, link)

    assert result == OutputRow(
        cells=("1", "Product 1", "urls…"),
        output_urls=[link(f"{RID}/0-0.jpg"), None, link(f"{RID}/0-2.jpg"), None],
        errors=[None, "HTTP 404 Not Found", None, None],
        srcsets=[None, None, None, None],
    )
    assert isinstance(result.cells, tuple)


def test_output_row_without_images() -> None:
    assert output_row(row(1), [], link) == OutputRow(
        cells=("2", "Product 2", "urls…"), output_urls=[], errors=[], srcsets=[]
    )


# --- expired outputs (RETAIN_COMPRESSED_DAYS) ------------------------------------------------

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def finished(days_ago: float, slot: int = 0, **fields: Any) -> ImageRecord:
    return image(
        0,
        slot,
        "done",
        compressed_key=f"{RID}/0-{slot}.jpg",
        finished_at=NOW - timedelta(days=days_ago),
        **fields,
    )


def test_an_output_older_than_its_days_has_no_links_and_says_so() -> None:
    variants = [{"key": f"{RID}/0-0-100w.jpg", "width": 100, "height": 67, "bytes": 900}]
    old = finished(2, width=451, bytes_out=5000, variants=variants)
    view = image_view(old, link, OutputsKept(NOW, 1))
    assert view.output_expired is True
    assert (view.output_url, view.variants, view.srcset) == (None, [], None)
    assert view.status == ImageStatus.DONE  # it was compressed; only the copy is gone
    assert view.bytes_out == 5000  # what it was is still told


def test_a_younger_output_keeps_its_link() -> None:
    view = image_view(finished(0.5), link, OutputsKept(NOW, 1))
    assert view.output_expired is False
    assert view.output_url == link(f"{RID}/0-0.jpg")


def test_zero_days_keeps_every_output() -> None:
    view = image_view(finished(10_000), link, OutputsKept(NOW, 0))
    assert view.output_expired is False and view.output_url is not None


def test_a_failed_image_has_no_output_to_expire() -> None:
    old = image(0, 0, "failed", error="HTTP 404", finished_at=NOW - timedelta(days=9))
    view = image_view(old, link, OutputsKept(NOW, 1))
    assert view.output_expired is False and view.error == "HTTP 404"


def test_output_row_says_an_output_expired_where_a_failure_gives_its_reason() -> None:
    images = [finished(3, 0), image(0, 1, "failed", error="HTTP 404"), finished(0.1, 2)]
    result = output_row(row(0), images, link, OutputsKept(NOW, 2))
    assert result.output_urls == [None, None, link(f"{RID}/0-2.jpg")]
    assert result.errors == [
        "output expired: compressed copies are kept 2 days (RETAIN_COMPRESSED_DAYS)",
        "HTTP 404",
        None,
    ]


def test_status_etag_moves_with_the_clock_only_when_outputs_expire() -> None:
    req = request({"_id": RID, "status": "completed", "created_at": NOW})
    later = NOW + timedelta(minutes=1)
    usage = usage_view(Usage(in_progress=0, images_today=0, bytes_stored=0), TenantRecord(id="a"))
    same = etag(req, 0, 10, usage, OutputsKept(NOW, 0))
    assert same == etag(req, 0, 10, usage, OutputsKept(later, 0))
    moved = etag(req, 0, 10, usage, OutputsKept(NOW, 1))
    assert moved != etag(req, 0, 10, usage, OutputsKept(later, 1))


def test_usage_view_puts_each_limit_next_to_its_usage() -> None:
    usage = Usage(in_progress=2, images_today=40, bytes_stored=123_456)
    limits = TenantRecord(id="acme", max_concurrent=3, max_bytes_stored=10**9)
    assert plain(usage_view(usage, limits)) == {
        "requests_in_progress": {"used": 2, "limit": 3},
        "images_today": {"used": 40, "limit": None},
        "bytes_stored": {"used": 123_456, "limit": 10**9},
    }


def test_the_status_etag_changes_with_the_tenants_usage() -> None:
    """Another request of the tenant moves its usage: a poll must not get a stale 304."""
    completed = request({"_id": RID, "status": "completed", "created_at": CREATED})
    limits = TenantRecord(id="acme")
    idle = usage_view(Usage(in_progress=0, images_today=6, bytes_stored=1000), limits)
    busier = usage_view(Usage(in_progress=1, images_today=6, bytes_stored=1000), limits)
    limited = usage_view(
        Usage(in_progress=0, images_today=6, bytes_stored=1000),
        TenantRecord(id="acme", max_images_per_day=10),
    )
    assert etag(completed, 0, 10, idle) == etag(completed, 0, 10, idle)
    assert len({etag(completed, 0, 10, u) for u in (idle, busier, limited)}) == 3
