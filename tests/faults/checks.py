"""The invariants, as checks of one request's recorded state (pure: no I/O).

Each check appends what it finds wrong to `Outcome.problems` and counts lost, duplicated and
wrongly failed images for the results table.
"""

import csv
import io
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from standardwebhooks import Webhook

from shared.errors import PermanentError
from shared.events import FetchBatch
from shared.names import (
    IMAGE_COMPRESSED,
    IMAGE_FAILED,
    IMAGE_REUSED,
    REQUEST_FAILED,
    WEBHOOK_DUE,
)
from tests.faults.queues import DeadLetter
from tests.faults.servers import Delivery
from tests.faults.workload import Workload

FINAL = ("completed", "completed_with_errors", "failed")
# A dead letter here means an outcome or a webhook was dropped, never a bad image.
NOTIFIER_DEAD = tuple(
    q.dead_letter_queue
    for q in (IMAGE_COMPRESSED, IMAGE_FAILED, IMAGE_REUSED, REQUEST_FAILED, WEBHOOK_DUE)
)
_KEY = re.compile(r"^([0-9a-f]{32})/(\d+)-(\d+)\.\w+$")
_IMAGE_ID = re.compile(r"([0-9a-f]{32})[./](\d+)[.-](\d+)")

# What was read for one request: its document, images, object keys and output CSV.
State = dict[str, Any]


@dataclass
class Outcome:
    """Counts for the results table, and every invariant violated."""

    images_in: int
    compressed: int = 0
    failed: int = 0
    lost: int = 0
    duplicated: int = 0
    wrongly_failed: int = 0  # expected to succeed, recorded as failed
    problems: list[str] = field(default_factory=list)


def _image_of_key(key: str) -> str:
    match = _KEY.match(key)
    return f"{match[1]}.{match[2]}.{match[3]}" if match else key


def check_records(state: State, workload: Workload, out: Outcome) -> None:
    """Request final, one image per URL, each done or failed with a reason, counts right."""
    request, images = state["request"], state["images"]
    if request.get("status") not in FINAL:
        out.problems.append(f"request is {request.get('status')!r}, not final")
    urls, wanted = [i["url"] for i in images], [e.url for e in workload.images]
    if urls != wanted:
        extra, missing = Counter(urls) - Counter(wanted), Counter(wanted) - Counter(urls)
        out.lost += sum(missing.values())
        out.duplicated += sum(extra.values())
        out.problems.append(
            f"images differ from the CSV: {len(missing)} missing, {len(extra)} extra"
        )
    statuses = Counter(image["status"] for image in images)
    out.compressed, out.failed = statuses["done"], statuses["failed"]
    pending = [image for image in images if image["status"] not in ("done", "failed")]
    out.lost += len(pending)
    for image in pending[:5]:
        stored = [
            b for b in ("originals", "compressed") if image["_id"] in map(_image_of_key, state[b])
        ]
        out.problems.append(
            f"image {image['_id']} never finished ({image['url']}; objects: {stored or 'none'})"
        )
    if len(pending) > 5:
        out.problems.append(f"… and {len(pending) - 5} more images never finished")
    if no_reason := [i["_id"] for i in images if i["status"] == "failed" and not i.get("error")]:
        out.problems.append(f"failed images without a reason: {no_reason[:3]}")
    for name in ("done", "failed"):
        if request.get(name) != statuses[name]:
            out.duplicated += max(0, request.get(name, 0) - statuses[name])
            out.problems.append(
                f"request counts {name}={request.get(name)}, {statuses[name]} images are {name}"
            )
    if request.get("total") != len(wanted):
        out.problems.append(f"request total {request.get('total')} for {len(wanted)} URLs")
    for image in images:
        want = workload.expected_for(image["url"])
        if image["status"] in ("done", "failed") and image["status"] != want.status:
            out.wrongly_failed += image["status"] == "failed"
            out.problems.append(
                f"{image['url']}: {image['status']} ({image.get('error')}), expected {want.status}"
            )
        elif want.error and want.error not in (image.get("error") or ""):
            out.problems.append(
                f"{image['url']}: error {image.get('error')!r}, expected {want.error!r}"
            )


def check_objects(state: State, out: Outcome) -> None:
    """One original and one compressed object per done image, but what a reused one does not
    store (its output is an earlier one; a revalidated one stores no original either);
    nothing compressed for a failure."""
    images = {image["_id"]: image for image in state["images"]}
    for bucket in ("originals", "compressed"):
        per_image = Counter(_image_of_key(key) for key in state[bucket])
        if unknown := [i for i in per_image if i not in images]:
            out.problems.append(f"{bucket}: objects of no image: {unknown[:3]}")
        if doubled := [i for i, n in per_image.items() if n > 1]:
            out.duplicated += sum(per_image[i] - 1 for i in doubled)
            out.problems.append(f"{bucket}: several objects for one image: {doubled[:3]}")
        for image_id, image in images.items():
            stores_none = image.get("reused") and (
                bucket == "compressed" or image.get("revalidated")
            )
            if image["status"] == "done" and not stores_none and not per_image[image_id]:
                out.lost += bucket == "compressed"
                out.problems.append(f"{bucket}: no object for done image {image_id}")
            if bucket == "compressed" and image["status"] == "failed" and per_image[image_id]:
                out.problems.append(f"compressed object for failed image {image_id}")
    for image in images.values():
        stored = image.get("compressed_key") in {*state["compressed"], *state["borrowed"]}
        if image["status"] == "done" and not stored:
            out.problems.append(
                f"{image['_id']}: compressed_key {image.get('compressed_key')!r} missing"
            )


def check_output_csv(state: State, workload: Workload, out: Outcome) -> None:
    """The input rows in order, one output slot per input URL, empty exactly where it failed."""
    if state["output"] is None:
        out.problems.append("no output CSV (the request did not complete)")
        return
    rows = list(csv.reader(io.StringIO(state["output"])))[1:]
    if len(rows) != len(workload.rows):
        out.problems.append(f"output CSV has {len(rows)} rows for {len(workload.rows)} input rows")
    by_slot = {(i["row"], i["slot"]): i for i in state["images"]}
    for index, (got, given) in enumerate(zip(rows, workload.rows, strict=False)):
        if got[:3] != given:
            out.problems.append(f"output row {index} is {got[:3]}, the input row was {given}")
        slots, wanted = got[3].split(","), len(given[2].split(","))
        if len(slots) != wanted:
            out.problems.append(f"output row {index}: {len(slots)} slots for {wanted} URLs")
        for slot, link in enumerate(slots):
            status = by_slot.get((index, slot), {}).get("status")
            if (link == "") != (status != "done"):
                out.problems.append(
                    f"output row {index} slot {slot}: {link!r} for a {status} image"
                )


def check_webhook(deliveries: list[Delivery], secret: str, state: State, out: Outcome) -> None:
    """One event id for the request (attempts may repeat it), delivered, signed, truthful."""
    events = {d.event_id for d in deliveries}
    if len(events) != 1:
        out.duplicated += max(0, len(events) - 1)
        out.problems.append(f"{len(events)} distinct webhook events, want 1: {sorted(events)}")
    if not any(200 <= d.answered < 300 for d in deliveries):
        answers = [d.answered for d in deliveries]
        out.problems.append(
            f"webhook never delivered: {len(deliveries)} attempts answered {answers}"
        )
    verifier = Webhook(secret)
    request = state["request"]
    for d in deliveries:
        refused = d.refused
        if refused is None:  # not verified on receipt: now, then
            try:
                verifier.verify(d.raw, d.headers)
                refused = ""
            except Exception as exc:  # the library's WebhookVerificationError, or no header
                refused = repr(exc)
        if refused:
            out.problems.append(f"webhook attempt not properly signed: {refused}")
            break
        told = (d.body.get("status"), d.body.get("done"), d.body.get("failed"))
        if told != (request.get("status"), request.get("done"), request.get("failed")):
            out.problems.append(f"webhook said {told}; the request is {request.get('status')}")
            break


def check_dead_letter(letter: DeadLetter, state: State, workload: Workload, out: Outcome) -> None:
    """Dead letters only for images that failed for good, with the reason they were given."""
    images = {image["_id"]: image for image in state["images"]}
    body = letter.body.decode(errors="replace")
    ids = {f"{m[1]}.{m[2]}.{m[3]}" for m in _IMAGE_ID.finditer(body) if m[1] == state["id"]}
    if letter.queue in NOTIFIER_DEAD:
        out.problems.append(f"{letter.queue}: dead-lettered: {letter.reason}")
    elif not ids:
        out.problems.append(f"{letter.queue}: dead letter of the request itself: {letter.reason}")
    # A batch of fetches says why each of its fetches failed last (shared/events.py FetchBatch).
    own = {f.image_id: e for f, e in _fetch_batch(letter.body).reasons() if e}
    for image_id in ids:
        image = images.get(image_id, {})
        expected = workload.expected_for(image["url"]).status if image else "?"
        if image.get("status") == "done" or expected == "done":
            out.problems.append(
                f"{letter.queue}: dead letter for {image_id} ({image.get('status')}, "
                f"expected {expected}): {letter.reason}"
            )
        elif (reason := own.get(image_id, letter.reason)) not in (image.get("error") or ""):
            out.problems.append(
                f"{letter.queue}: {image_id} dead-lettered with {reason!r}, "
                f"recorded as {image.get('error')!r}"
            )


def _fetch_batch(body: bytes) -> FetchBatch:
    """The fetches of a dead letter (none if it is not a fetch batch)."""
    try:
        return FetchBatch.decode(body)
    except PermanentError:
        return FetchBatch(())
