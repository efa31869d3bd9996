"""What `imgpipe` prints: summaries, progress lines and tables from the API's views (pure)."""

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from shared.api import ProductView, QuotaView, RequestView, UsageView
from shared.records import WebhookState
from shared.status import FINAL_STATUSES, ImageStatus, RequestStatus

EXIT_CODES = {
    RequestStatus.COMPLETED: 0,
    RequestStatus.COMPLETED_WITH_ERRORS: 1,
    RequestStatus.FAILED: 2,
    RequestStatus.EXPIRED: 2,  # its own routes answer 410: an API error, like any other
}
STILL_RUNNING = 3  # `status` of a request that is pending or processing
MAX_FAILURES_SHOWN = 50  # a summary stays readable; --json or the output CSV has them all


def exit_code(status: RequestStatus) -> int:
    """The process's exit code for a request in `status`."""
    return EXIT_CODES.get(status, STILL_RUNNING)


def is_final(status: RequestStatus) -> bool:
    return status in FINAL_STATUSES


def human_bytes(size: int) -> str:
    """1536 → "1.5 KiB"."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def when(iso: str) -> str:
    """An API time (ISO 8601) as "2026-11-20 10:00:01 UTC"."""
    moment = datetime.fromisoformat(iso)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def seconds_between(start: str, end: str) -> float:
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def progress_line(view: RequestView) -> str:
    """One line of progress, for logs and pipes where a live bar cannot be drawn."""
    counts = view.counts
    if view.status == RequestStatus.PENDING:
        return "pending: the CSV is not read yet"
    if view.status == RequestStatus.FAILED:
        return f"failed: {view.error}"
    finished = counts.done + counts.failed
    return f"{view.status}: {finished} of {counts.total} images ({counts.failed} failed)"


@dataclass(frozen=True)
class Failure:
    serial: str  # the row's "S. No."
    product: str
    url: str
    error: str


def failures(products: Sequence[ProductView]) -> Iterator[Failure]:
    """Every failed image, in CSV order."""
    for product in products:
        for image in product.images:
            if image.status == ImageStatus.FAILED:
                error = image.error or "no reason given"
                yield Failure(product.serial, product.product, image.input_url, error)


def sizes(products: Sequence[ProductView]) -> tuple[int, int] | None:
    """Bytes before and after compression over the compressed images; None if none yet."""
    pairs = [
        (image.bytes_in, image.bytes_out)
        for product in products
        for image in product.images
        if image.status == ImageStatus.DONE and image.bytes_in and image.bytes_out
    ]
    if not pairs:
        return None
    return sum(p[0] for p in pairs), sum(p[1] for p in pairs)


def scores(products: Sequence[ProductView]) -> str | None:
    """The SSIMULACRA2 scores quality=auto reached, lowest to highest; None without any."""
    found = sorted(
        image.score for product in products for image in product.images if image.score is not None
    )
    if not found:
        return None
    return f"SSIMULACRA2 {found[0]:.1f} to {found[-1]:.1f} over {len(found)} images"


def webhook_line(view: RequestView) -> str | None:
    attempts = view.webhook_attempts
    tries = f"{len(attempts)} attempt{'s' if len(attempts) != 1 else ''}"
    if view.webhook_state == WebhookState.DELIVERED:
        return f"delivered ({tries})"
    if not attempts:
        return None  # no webhook_url, or not called yet
    last = attempts[-1].error or f"HTTP {attempts[-1].status_code}"
    if view.webhook_state == WebhookState.FAILED:
        return f"gave up after {tries}: {last}"
    return f"retrying after {tries}: {last}"


def quota(used: QuotaView, what: str, show: Callable[[int], str] = str) -> str:
    """ "1 of 3 requests in progress", or "6 images today (no limit)"."""
    if used.limit is None:
        return f"{show(used.used)} {what} (no limit)"
    return f"{show(used.used)} of {show(used.limit)} {what}"


def usage_line(usage: UsageView) -> str:
    """The tenant's usage next to its limits, on one line."""
    return ", ".join(
        [
            quota(usage.requests_in_progress, "requests in progress"),
            quota(usage.images_today, "images today"),
            quota(usage.bytes_stored, "stored", human_bytes),
        ]
    )


def summary(
    view: RequestView, products: Sequence[ProductView] = (), usage: UsageView | None = None
) -> str:
    """A person's view of a request: status, counts, sizes, webhook, the tenant's usage,
    failed images."""
    counts = view.counts
    fields = [("request", view.request_id), ("status", str(view.status))]
    if view.error:
        fields.append(("error", view.error))
    if view.filename:
        settings = f"{view.format}, quality {view.quality}, effort {view.effort}"
        if view.max_bytes is not None:
            settings += f", at most {human_bytes(view.max_bytes)} an image"
        if view.max_width is not None or view.max_height is not None:
            settings += f", within {view.max_width or 'any'} × {view.max_height or 'any'} px"
        if view.widths:
            settings += f", widths {','.join(map(str, view.widths))}"
        if view.metadata != "none":
            settings += f", metadata {view.metadata}"
        if view.animation != "first":
            settings += ", animations kept"
        fields.append(("file", f"{view.filename} ({settings})"))
    fields.append(("created", when(view.created_at)))
    if view.completed_at:
        took = seconds_between(view.created_at, view.completed_at)
        fields.append(("finished", f"{when(view.completed_at)} ({took:.1f} s)"))
    fields.append(("images", f"{counts.total} in all, {counts.done} done, {counts.failed} failed"))
    if counts.revalidated or counts.reused:
        reuse = f"{counts.revalidated} revalidated (304), {counts.reused} outputs reused"
        fields.append(("re-run", reuse))
    if measured := sizes(products):
        before, after = measured
        saved = 100 * (before - after) / before
        fields.append(
            ("size", f"{human_bytes(before)} → {human_bytes(after)} ({saved:.0f} % saved)")
        )
    if scored := scores(products):
        fields.append(("scores", scored))
    if hook := webhook_line(view):
        fields.append(("webhook", hook))
    if usage is not None:
        fields.append(("usage", usage_line(usage)))
    lines = [f"{name:<9} {value}" for name, value in fields]
    failed = list(failures(products))
    if failed:
        lines.append("failed images:")
        for failure in failed[:MAX_FAILURES_SHOWN]:
            lines.append(f"  S. No. {failure.serial} ({failure.product}): {failure.url}")
            lines.append(f"    {failure.error}")
        if len(failed) > MAX_FAILURES_SHOWN:
            more = len(failed) - MAX_FAILURES_SHOWN
            lines.append(f"  … and {more} more (see --json, or the output CSV's Errors column)")
    return "\n".join(lines)


def requests_table(views: Sequence[RequestView]) -> str:
    """Requests as aligned columns, one line each (easy to read, grep and cut)."""
    header = ("REQUEST", "STATUS", "IMAGES", "CREATED", "FILE")
    rows = [header]
    for view in views:
        counts = view.counts
        images = f"{counts.done + counts.failed}/{counts.total}"
        if counts.failed:
            images += f" ({counts.failed} failed)"
        created = when(view.created_at).removesuffix(" UTC")
        rows.append((view.request_id, str(view.status), images, created, view.filename))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows)
    return "\n".join(line.rstrip() for line in lines)
