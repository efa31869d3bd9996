"""What the gateway shows: the status document and the output CSV rows (pure)."""

import hashlib
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from ingest.csvfile import OutputRow
from shared import timeline
from shared.names import DEFAULT_FORMAT
from shared.status import ImageStatus

Doc = dict[str, Any]
LinkFor = Callable[[str], str]
"""Turns a compressed object's key into a link the user can open."""


async def group_by_row(
    rows: AsyncIterator[Doc], images: AsyncIterator[Doc]
) -> AsyncIterator[tuple[Doc, list[Doc]]]:
    """Pair each row with its images; both iterators are sorted by row (images by slot too)."""
    pending = await anext(images, None)
    async for row in rows:
        slots = []
        while pending is not None and pending["row"] == row["index"]:
            slots.append(pending)
            pending = await anext(images, None)
        yield row, slots


def image_view(image: Doc, link_for: LinkFor) -> Doc:
    key = image.get("compressed_key")
    done = image["status"] == ImageStatus.DONE
    return {
        "input_url": image["url"],
        "status": image["status"],
        "output_url": link_for(key) if done and key else None,
        "error": image.get("error"),
        "bytes_in": image.get("bytes_in"),
        "bytes_out": image.get("bytes_out"),
        "format": image.get("format"),
        "quality": image.get("quality"),
        "kept_source": image.get("kept_source"),
        **timings(image.get("moments") or {}),
    }


def timings(moments: dict[str, int]) -> Doc:
    """When each step happened (ISO 8601) and the milliseconds each interval took."""
    return {
        "timeline": {name: timeline.iso(ms) for name, ms in moments.items()},
        "hops_ms": timeline.hops(moments),
    }


def request_view(request: Doc) -> Doc:
    """The request's summary: status and counts."""
    return {
        "request_id": request["_id"],
        "status": request["status"],
        "error": request.get("error"),
        "filename": request.get("filename"),
        "quality": request.get("quality"),
        "format": request.get("format", DEFAULT_FORMAT),
        "created_at": request["created_at"].isoformat(),
        "completed_at": c.isoformat() if (c := request.get("completed_at")) else None,
        "counts": {
            "total": request.get("total", 0),
            "done": request.get("done", 0),
            "failed": request.get("failed", 0),
        },
        "timeline": {k: timeline.iso(ms) for k, ms in (request.get("moments") or {}).items()},
        "webhook_state": request.get("webhook_state"),
        "webhook_attempts": [
            {**a, "at": a["at"].isoformat()} for a in request.get("webhook_attempts", [])
        ],
    }


def product_view(row: Doc, images: Sequence[Doc], link_for: LinkFor) -> Doc:
    return {
        "row": row["index"],
        "serial": row["serial"],
        "product": row["product"],
        "images": [image_view(image, link_for) for image in images],
    }


def output_row(row: Doc, images: Sequence[Doc], link_for: LinkFor) -> OutputRow:
    """One output CSV row: the input cells plus one output slot per input URL."""
    urls: list[str | None] = []
    errors: list[str | None] = []
    for image in images:
        view = image_view(image, link_for)
        urls.append(view["output_url"])
        errors.append(view["error"])
    return OutputRow(cells=tuple(row["cells"]), output_urls=urls, errors=errors)


def etag(request: Doc, offset: int, limit: int) -> str:
    """Changes whenever the status page would: progress, final status, webhook outcome."""
    parts = (
        request.get("updated_at") or request["created_at"],
        request["status"],
        request.get("done", 0),
        request.get("failed", 0),
        request.get("webhook_state"),
        len(request.get("webhook_attempts", [])),
        offset,
        limit,
    )
    digest = hashlib.sha256(repr(parts).encode()).hexdigest()[:20]
    return f'W/"{digest}"'
