"""ingest: a CSV landed in the inbox bucket → record its rows and images, fan out fetches.

Safe to run twice for the same object: rows and images are keyed by position, and a request
whose fan-out finished is left alone.
"""

import asyncio
import logging
import re
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from ingest.csvfile import CsvError, Row, parse_rows
from shared import logs, timeline
from shared.db import image_id
from shared.errors import NotYet
from shared.events import FetchRequested, ObjectCreated, RequestFailed
from shared.names import (
    DEFAULT_FORMAT,
    META_FORMAT,
    META_QUALITY,
    META_REQUEST_ID,
    META_TENANT,
    META_WEBHOOK_URL,
    OUTPUT_FORMATS,
    REQUEST_FAILED_ROUTING_KEY,
    fetch_routing_key,
)
from shared.runtime import Clients
from shared.settings import csv_limits
from shared.status import ImageStatus, RequestStatus
from shared.storage import ObjectStore

log = logging.getLogger(__name__)
T = TypeVar("T")
BATCH = 1000  # rows per database round trip: bounded memory for any CSV size
# A fan-out whose owner has not renewed its claim for this long is taken over (owner crashed);
# the owner renews it every IN_FLIGHT messages. A takeover of a live owner only repeats work
# (fetches of pending images are idempotent), so the lease can be short.
FANOUT_LEASE_S = 5.0
IN_FLIGHT = 500  # fetch messages awaiting their broker confirms at once
_REQUEST_ID = re.compile(r"^[0-9a-f]{32}$")
# Names the ids of CSVs dropped straight into the inbox (uuid5 of bucket/key#etag).
_DROP_NAMESPACE = uuid.UUID("5b0c5a6e-8f1d-4c59-9d7e-3b1c0f9a2e11")


def request_id_for(event: ObjectCreated) -> str:
    """The gateway's id from the object's metadata, else one derived from the object version.

    A CSV dropped straight into the bucket gets the same id on every redelivery of its event;
    `GET /api/requests?inbox_key=<key>` finds it.
    """
    given = event.metadata.get(META_REQUEST_ID, "").strip().lower()
    if _REQUEST_ID.match(given):
        return given
    return uuid.uuid5(_DROP_NAMESPACE, event.dedupe_key).hex


def tenant_of(event: ObjectCreated) -> str:
    """Whose CSV this is: the `tenant` metadata, else the key's first folder ("acme/x.csv")."""
    given = event.metadata.get(META_TENANT, "").strip()
    if given:
        return given
    folder, slash, _ = event.key.partition("/")
    return folder if slash else ""


def request_fields(
    event: ObjectCreated, default_quality: int, default_format: str
) -> dict[str, Any]:
    """Settings of a request created from the object's metadata (for dropped CSVs)."""
    return {
        "tenant": tenant_of(event),
        "filename": event.key.rsplit("/", 1)[-1],
        "quality": event.metadata.get(META_QUALITY, str(default_quality)),
        "format": event.metadata.get(META_FORMAT, default_format).strip().lower(),
        "webhook_url": event.metadata.get(META_WEBHOOK_URL) or None,
        "source": {"bucket": event.bucket, "key": event.key, "etag": event.etag},
    }


def documents(
    request_id: str, rows: list[Row]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The row and image documents of a batch of parsed rows."""
    row_docs = [
        {
            "_id": f"{request_id}:{row.index}",
            "request_id": request_id,
            "index": row.index,
            "serial": row.serial,
            "product": row.product,
            "cells": list(row.cells),
        }
        for row in rows
    ]
    image_docs = [
        {
            "_id": image_id(request_id, row.index, slot),
            "request_id": request_id,
            "row": row.index,
            "slot": slot,
            "url": url,
            "status": ImageStatus.PENDING.value,
        }
        for row in rows
        for slot, url in enumerate(row.urls)
    ]
    return row_docs, image_docs


def batches(rows: Iterator[Row]) -> Iterator[list[Row]]:
    batch: list[Row] = []
    for row in rows:
        batch.append(row)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


async def handle(event: ObjectCreated, clients: Clients) -> None:
    started = timeline.now_ms()
    moments = {} if event.event_time_ms is None else {"csv_stored": event.event_time_ms}
    moments["ingest_started"] = started
    request_id = request_id_for(event)
    logs.bind(request_id=request_id, key=event.key)
    settings = clients.settings
    request = await clients.db.open_request(
        request_id, request_fields(event, settings.default_quality, settings.default_format)
    )
    if request["status"] != RequestStatus.PENDING:
        if request["status"] == RequestStatus.PROCESSING and not request.get("fanned_out"):
            # An earlier delivery is fanning out, or stopped half way: take over only once
            # it has gone quiet, else come back later.
            if not await clients.db.claim_fanout(request_id, FANOUT_LEASE_S):
                raise NotYet("another delivery of this CSV is still sending its fetches")
            await _fan_out(request, clients, moments)
        return
    try:
        if not await clients.db.tenant_exists(request["tenant"]):
            raise CsvError(
                f"unknown tenant {request['tenant']!r}: put the CSV under <tenant>/ in the "
                "inbox bucket or give it x-amz-meta-tenant, for a tenant that has an API key"
            )
        quality = _quality(request["quality"])
        _check_format(request.get("format", DEFAULT_FORMAT))
        if event.size > settings.max_csv_bytes:
            raise CsvError(f"the CSV is larger than the limit of {settings.max_csv_bytes} bytes")
        total = await _save_rows(request_id, event, clients)
    except CsvError as exc:
        log.warning("request refused: %s", exc)
        await clients.publisher.publish(
            REQUEST_FAILED_ROUTING_KEY, RequestFailed(request_id, str(exc))
        )
        return
    if not await clients.db.start_processing(request_id, total, quality):
        return  # a duplicate delivery of this CSV got there first: it fans out
    await _fan_out({**request, "quality": quality, "total": total}, clients, moments)
    log.info("request accepted: %d images sent to be fetched", total)


def _check_format(raw: str) -> None:
    if raw not in OUTPUT_FORMATS:
        raise CsvError(f"format must be one of {', '.join(OUTPUT_FORMATS)}, got {raw[:20]!r}")


def _quality(raw: object) -> int:
    try:
        quality = int(str(raw))
    except ValueError:
        raise CsvError(f"quality must be a whole number from 1 to 95, got {raw!r}") from None
    if not 1 <= quality <= 95:
        raise CsvError(f"quality must be from 1 to 95, got {quality}")
    return quality


async def _save_rows(request_id: str, event: ObjectCreated, clients: Clients) -> int:
    """Check the whole CSV, then save its rows and images in batches; returns the image count.

    Two passes, each streaming the object (parsing is cheap next to the database), so that a
    bad row near the end fails the request before anything of it is written, and memory holds
    one batch of rows whatever the CSV's size.
    """
    limits = csv_limits(clients.settings)
    loop = asyncio.get_running_loop()

    def check(chunks: Iterable[bytes]) -> tuple[list[str], int]:
        header, rows = parse_rows(chunks, **limits)
        return header, sum(len(row.urls) for row in rows)

    def save(chunks: Iterable[bytes]) -> int:
        saved = 0
        for batch in batches(parse_rows(chunks, **limits)[1]):
            write = clients.db.save_rows(*documents(request_id, batch))
            asyncio.run_coroutine_threadsafe(write, loop).result()
            saved += sum(len(row.urls) for row in batch)
        return saved

    header, total = await _parse_object(clients.store, event, check)
    if total == 0:
        raise CsvError("the CSV lists no image URLs")
    await clients.db.set_header(request_id, header)
    if await _parse_object(clients.store, event, save) != total:
        # Overwritten between the passes: what was saved may mix two versions; start over.
        raise RuntimeError(f"{event.key} changed while it was being read")
    return total


async def _parse_object(
    store: ObjectStore, event: ObjectCreated, parse: Callable[[Iterable[bytes]], T]
) -> T:
    """Run `parse` in a worker thread (the CSV parser is synchronous) over the object's bytes,
    streamed from the store by this loop as the parser asks for them."""
    loop = asyncio.get_running_loop()
    stream = store.stream(event.bucket, event.key)

    def chunks() -> Iterator[bytes]:
        while True:
            try:
                yield asyncio.run_coroutine_threadsafe(anext(stream), loop).result()
            except StopAsyncIteration:
                return

    try:
        return await asyncio.to_thread(parse, chunks())
    finally:
        await stream.aclose()


async def _fan_out(request: dict[str, Any], clients: Clients, moments: dict[str, int]) -> None:
    """One fetch message per image still pending, then remember the fan-out finished."""
    request_id = request["_id"]
    quality = int(request["quality"])
    output_format = request.get("format", DEFAULT_FORMAT)
    # A big request gets a bulk lane of its own while there are lanes to spare; assigned here,
    # not before, so a takeover of a fan-out whose owner crashed finds (or makes) it too.
    big = request["total"] >= clients.settings.bulk_request_images
    lane = fetch_routing_key(await clients.db.assign_fetch_lane(request_id) if big else None)
    window: list[FetchRequested] = []

    async def send() -> None:
        # Confirms awaited together, not one by one: several times the publish rate.
        await asyncio.gather(*(clients.publisher.publish(lane, m) for m in window))
        window.clear()
        await clients.db.renew_fanout(request_id)  # still alive: keep the lease

    async for image in clients.db.iter_images(request_id, ImageStatus.PENDING):
        window.append(
            FetchRequested(
                request_id, image["_id"], image["url"], quality, output_format, timeline.now_ms()
            )
        )
        if len(window) == IN_FLIGHT:
            await send()
    await send()
    await clients.db.mark_fanned_out(request_id, {**moments, "fanned_out": timeline.now_ms()})
