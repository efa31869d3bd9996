"""ingest: a CSV landed in the inbox bucket → record its rows and images, fan out fetches.

Safe to run twice for the same object: rows are keyed by position, and a request whose
fan-out finished is left alone.
"""

import asyncio
import logging
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

import msgspec

from ingest.csvfile import CsvError, Row
from ingest.csvfile import parse_rows as parse_csv
from ingest.options import parse_options
from shared import logs, quotas, reuse, timeline
from shared.db.images import ROWS_PER_DOC
from shared.errors import NotYet
from shared.events import FetchRequested, ObjectCreated, RequestFailed, batches_of
from shared.metadata import CsvMeta, OriginalMeta
from shared.names import REQUEST_FAILED_ROUTING_KEY, fetch_routing_key
from shared.records import ImageRecord, Options, RequestRecord, RowRecord, Source, row_id
from shared.rules import REQUEST_ID, RuleError
from shared.runtime import Clients
from shared.settings import Settings, csv_limits
from shared.status import RequestStatus
from shared.storage import ObjectStore

log = logging.getLogger(__name__)
T = TypeVar("T")
BATCH = 10 * ROWS_PER_DOC  # rows per database round trip, whole pages: bounded memory for any CSV
# A fan-out whose owner has not renewed its claim for this long is taken over (owner crashed);
# the owner renews it every IN_FLIGHT fetches. A takeover of a live owner only repeats work
# (fetches of pending images are idempotent), so the lease can be short.
FANOUT_LEASE_S = 5.0
IN_FLIGHT = 1000  # fetches looked up together and awaiting their broker confirms at once
# Windows of IN_FLIGHT being looked up and sent at once, while the next is read: a window
# spends most of its time waiting on the database and the broker, not on this process.
WINDOWS_IN_FLIGHT = 8
# Names the ids of CSVs dropped straight into the inbox (uuid5 of bucket/key#etag).
_DROP_NAMESPACE = uuid.UUID("5b0c5a6e-8f1d-4c59-9d7e-3b1c0f9a2e11")


class OverQuota(Exception):
    """The request would break one of its tenant's limits (shared/quotas.py): it fails."""


def request_id_for(event: ObjectCreated) -> str:
    """The gateway's id from the object's metadata, else one derived from the object version.

    A CSV dropped straight into the bucket gets the same id on every redelivery of its event;
    `GET /api/requests?inbox_key=<key>` finds it.
    """
    given = CsvMeta.read(event).request_id.strip().lower()
    if REQUEST_ID.matches(given):
        return given
    return uuid.uuid5(_DROP_NAMESPACE, event.dedupe_key).hex


def tenant_of(event: ObjectCreated) -> str:
    """Whose CSV this is: the `tenant` metadata, else the key's first folder ("acme/x.csv")."""
    given = CsvMeta.read(event).tenant.strip()
    if given:
        return given
    folder, slash, _ = event.key.partition("/")
    return folder if slash else ""


@dataclass(frozen=True)
class Inbox:
    """What a CSV's object says of its request."""

    tenant: str
    filename: str
    source: Source
    options: Options  # from its metadata; the defaults where it names none, or names bad ones
    problem: str | None  # what is wrong with the options its metadata names, if anything


def read_inbox(event: ObjectCreated, settings: Settings) -> Inbox:
    meta = CsvMeta.read(event)
    problem = None
    try:
        options = parse_options(meta.options(), settings)
    except RuleError as exc:
        options, problem = parse_options({}, settings), str(exc)
    return Inbox(
        tenant=tenant_of(event),
        filename=event.key.rsplit("/", 1)[-1],
        source=Source(bucket=event.bucket, key=event.key, etag=event.etag),
        options=options,
        problem=problem,
    )


def records(request_id: str, rows: list[Row]) -> list[RowRecord]:
    """The records of a batch of parsed rows: its images are the slots of their URLs."""
    return [
        RowRecord(
            id=row_id(request_id, row.index),
            request_id=request_id,
            index=row.index,
            serial=row.serial,
            product=row.product,
            cells=row.cells,
            urls=row.urls,
        )
        for row in rows
    ]


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
    inbox = read_inbox(event, settings)
    request = await clients.db.requests.open(
        request_id, inbox.tenant, inbox.filename, inbox.options, inbox.source
    )
    if request.status != RequestStatus.PENDING:
        if request.status == RequestStatus.PROCESSING and not request.fanned_out:
            # An earlier delivery is fanning out, or stopped half way: take over only once
            # it has gone quiet, else come back later.
            if not await clients.db.fanout.claim(request_id, FANOUT_LEASE_S):
                raise NotYet("another delivery of this CSV is still sending its fetches")
            await _fan_out(request, clients, moments)
        return
    try:
        if not await clients.db.keys.tenant_exists(request.tenant):
            raise CsvError(
                f"unknown tenant {request.tenant!r}: put the CSV under <tenant>/ in the "
                "inbox bucket or give it x-amz-meta-tenant, for a tenant that has an API key"
            )
        if inbox.problem is not None:
            raise CsvError(inbox.problem)
        if event.size > settings.max_csv_bytes:
            raise CsvError(f"the CSV is larger than the limit of {settings.max_csv_bytes} bytes")
        header, total, rows = await _check_rows(event, clients)
        await _admit(request, total, clients)
    except (CsvError, OverQuota) as exc:
        log.warning("request refused: %s", exc)
        await clients.publisher.publish(
            REQUEST_FAILED_ROUTING_KEY, RequestFailed(request_id, str(exc))
        )
        return
    await _save_rows(request_id, event, clients, header, total)
    if not await clients.db.requests.start_processing(request_id, total, rows):
        return  # a duplicate delivery of this CSV got there first: it fans out
    started_request = msgspec.structs.replace(request, total=total, rows=rows)
    await _fan_out(started_request, clients, moments)
    log.info("request accepted: %d images sent to be fetched", total)


async def _check_rows(event: ObjectCreated, clients: Clients) -> tuple[list[str], int, int]:
    """Check the whole CSV; returns its header and how many images and rows it has.

    The first of two passes, each streaming the object (parsing is cheap next to the
    database), so that a bad row near the end, or a limit of the tenant's it would break,
    fails the request before anything of it is written, and memory holds one batch of rows
    whatever the CSV's size.
    """
    limits = csv_limits(clients.settings)

    def check(chunks: Iterable[bytes]) -> tuple[list[str], int, int]:
        header, rows = parse_csv(chunks, **limits)
        images = count = 0
        for row in rows:
            images, count = images + len(row.urls), count + 1
        return header, images, count

    header, total, rows = await _parse_object(clients.store, event, check)
    if total == 0:
        raise CsvError("the CSV lists no image URLs")
    return header, total, rows


async def _admit(request: RequestRecord, images: int, clients: Clients) -> None:
    """Count the request's images in its tenant's day, or raise OverQuota naming the limit.

    Concurrency counts the tenant's other requests processing (a pending one is not accepted
    yet); the images are counted by one conditional increment, so two CSVs admitted at once
    cannot both take the day's last images. Counted once: a redelivery after a crash skips it.
    """
    if request.images_counted:
        return
    db, day = clients.db, quotas.day_of(request.created_at)
    while True:  # a failed count means the day's count grew: the next look refuses, or fits
        limits = await db.tenants.get(request.tenant)
        usage = quotas.Usage(
            in_progress=await db.requests.processing_besides(request.tenant, request.id),
            images_today=await db.tenants.images_on(request.tenant, day),
            bytes_stored=await db.requests.bytes_stored(request.tenant),
        )
        refused = quotas.refusal(request.tenant, limits, usage, images, datetime.now(UTC))
        if refused is not None:
            raise OverQuota(refused.message)
        per_day = quotas.IMAGES_PER_DAY.of(limits)
        if await db.tenants.count_images(request.tenant, day, images, per_day):
            break
    # A crash just before this line counts the images again on redelivery: the tenant loses
    # up to one request's share of the day, never gains one.
    await db.requests.mark_images_counted(request.id)


async def _save_rows(
    request_id: str, event: ObjectCreated, clients: Clients, header: list[str], total: int
) -> None:
    """Save the checked CSV's rows, with their image URLs, in batches (the second pass)."""
    limits = csv_limits(clients.settings)
    loop = asyncio.get_running_loop()

    def save(chunks: Iterable[bytes]) -> int:
        # Each batch is parsed while the one before is written: one write at a time, in order.
        saved, writing = 0, None
        try:
            for batch in batches(parse_csv(chunks, **limits)[1]):
                rows = records(request_id, batch)
                if writing is not None:
                    writing.result()
                writing = asyncio.run_coroutine_threadsafe(clients.db.images.save(rows), loop)
                saved += sum(len(row.urls) for row in batch)
        finally:
            if writing is not None:
                writing.result()
        return saved

    await clients.db.requests.set_header(request_id, header)
    if await _parse_object(clients.store, event, save) != total:
        # Overwritten between the passes: what was saved may mix two versions; start over.
        raise RuntimeError(f"{event.key} changed while it was being read")


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


async def fetches_of(
    request: RequestRecord, images: list[ImageRecord], clients: Clients
) -> list[FetchRequested]:
    """The images' fetches, each with what the tenant stored for its URL and the output made
    from it with these settings (shared/reuse.py): two queries for the window, not two per
    image."""
    if not request.tenant:
        return [FetchRequested.of(request, image) for image in images]
    sources = await clients.db.sources.of_urls(request.tenant, [i.url for i in images])
    background = clients.settings.background

    def result_of(image: ImageRecord) -> str | None:
        source = sources.get(image.url)
        if source is None or source.sha256 is None:
            return None
        wanted = OriginalMeta.of_fetch(FetchRequested.of(request, image), True, {})
        return reuse.result_id(request.tenant, source.sha256, wanted, background)

    ids = {image.id: result_of(image) for image in images}
    results = await clients.db.results.of_ids([i for i in ids.values() if i is not None])
    return [
        FetchRequested.of(
            request, image, sources.get(image.url), results.get(ids[image.id] or ""), looked_up=True
        )
        for image in images
    ]


async def _fan_out(request: RequestRecord, clients: Clients, moments: dict[str, int]) -> None:
    """A fetch for every image still pending, FETCHES_PER_MESSAGE to a message, then
    remember the fan-out finished."""
    # A big request gets a bulk lane of its own while there are lanes to spare; assigned here,
    # not before, so a takeover of a fan-out whose owner crashed finds (or makes) it too.
    if request.total >= clients.settings.bulk_request_images:
        lane = await clients.db.fanout.assign_lane(request.id)
        request = msgspec.structs.replace(request, fetch_lane=lane)
    routing_key = fetch_routing_key(request.fetch_lane)

    async def send(window: list[ImageRecord]) -> None:
        sending = batches_of(await fetches_of(request, window, clients))
        # Confirms awaited together, not one by one: several times the publish rate.
        await asyncio.gather(*(clients.publisher.publish(routing_key, b) for b in sending))
        await clients.db.fanout.renew(request.id)  # still alive: keep the lease

    # Windows are sent side by side while the next is read: the database and the broker work
    # at once. They may go out of order (a fetch stands on its own); the fan-out is done, and
    # recorded so, only once every window is confirmed.
    window: list[ImageRecord] = []
    sending: deque[asyncio.Task[None]] = deque()
    try:
        async for image in clients.db.images.pending(request.id):
            window.append(image)
            if len(window) == IN_FLIGHT:
                if len(sending) == WINDOWS_IN_FLIGHT:
                    await sending.popleft()
                sending.append(asyncio.create_task(send(window)))
                window = []
        while sending:
            await sending.popleft()
    finally:
        for task in sending:
            task.cancel()  # reading or sending failed: the delivery is retried, fetches and all
    await send(window)
    await clients.db.fanout.finish(request.id, {**moments, "fanned_out": timeline.now_ms()})
