"""ingest's pure helpers: request ids, what the inbox object says, row/image records, batching."""

import itertools
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import bson
import pytest

from ingest.csvfile import Row
from ingest.handler import BATCH, Inbox, batches, read_inbox, records, request_id_for, tenant_of
from shared.db.codec import document
from shared.events import ObjectCreated, decode_bucket_event
from shared.names import INBOX_BUCKET
from shared.records import Options, Record, Source
from shared.settings import Settings

SETTINGS = Settings.from_env({}, require=())

RID = "e6ffb05b235749b081bb556eda014c40"
DROP_KEY = "drops/Spring sale/catálogo 2024.csv"
ETAG = "f69c93414df3908cbbbbcc4a9ad9d7e2"
# The namespace is part of the id contract: changing it renames every dropped CSV's request.
DROP_NAMESPACE = uuid.UUID("5b0c5a6e-8f1d-4c59-9d7e-3b1c0f9a2e11")
# uuid5(DROP_NAMESPACE, "csv-inbox/drops/Spring sale/catálogo 2024.csv#<ETAG>").hex
DROP_RID = "5053cbdc412551499479813eb72423e4"

A = "https://img.example.com/a.jpg"
B = "https://img.example.com/b.png"
C = "https://cdn.example.org/c.webp?w=1"

EventBody = Callable[[str], bytes]


def recorded(event_body: EventBody, name: str) -> ObjectCreated:
    [event] = decode_bucket_event(event_body(name))
    return event


def inbox_event(key: str = DROP_KEY, etag: str = ETAG, **metadata: str) -> ObjectCreated:
    return ObjectCreated(
        event_name="s3:ObjectCreated:Put",
        bucket=INBOX_BUCKET,
        key=key,
        size=411,
        etag=etag,
        content_type="text/csv",
        metadata=metadata,
    )


# --- request_id_for -----------------------------------------------------------------------


def test_uploaded_csv_keeps_the_gateway_id(event_body: EventBody) -> None:
    assert request_id_for(recorded(event_body, "minio-put-inbox-upload.json")) == RID


def test_dropped_csv_gets_an_id_from_the_object_version(event_body: EventBody) -> None:
    event = recorded(event_body, "minio-put-inbox-drop.json")
    assert request_id_for(event) == DROP_RID
    assert request_id_for(event) == uuid.uuid5(DROP_NAMESPACE, event.dedupe_key).hex


@pytest.mark.parametrize(
    "given",
    [RID.upper(), f"  {RID}\n", f" {RID.upper()} "],
    ids=["upper-case", "whitespace", "both"],
)
def test_given_id_is_normalised(given: str) -> None:
    assert request_id_for(inbox_event(**{"request-id": given})) == RID


@pytest.mark.parametrize(
    "given",
    [
        pytest.param("", id="empty"),
        pytest.param(RID[:-1], id="31-chars"),
        pytest.param(RID + "0", id="33-chars"),
        pytest.param(str(uuid.UUID(RID)), id="dashed-uuid"),
        pytest.param("g" + RID[1:], id="not-hex"),
        pytest.param(RID + "\n" + RID, id="two-lines"),
        pytest.param("../" + RID[3:], id="path"),
    ],
)
def test_unusable_given_id_falls_back_to_the_derived_one(given: str) -> None:
    assert request_id_for(inbox_event(**{"request-id": given})) == DROP_RID


def test_derived_id_looks_like_a_gateway_id() -> None:
    assert re.fullmatch(r"[0-9a-f]{32}", request_id_for(inbox_event()))


def test_same_event_same_id() -> None:
    """Redeliveries of one event, and events of the same object version, share an id."""
    assert request_id_for(inbox_event()) == request_id_for(inbox_event())
    assert request_id_for(inbox_event()) == request_id_for(inbox_event(quality="90"))


@pytest.mark.parametrize(
    "other",
    [
        pytest.param(inbox_event(etag="0c78aef83f66abc1fa1e8477f296d394"), id="new-etag"),
        pytest.param(inbox_event(key="drops/other.csv"), id="other-key"),
        pytest.param(replace(inbox_event(), bucket="elsewhere"), id="other-bucket"),
    ],
)
def test_another_object_version_gets_another_id(other: ObjectCreated) -> None:
    assert request_id_for(other) != DROP_RID
    assert request_id_for(other) == uuid.uuid5(DROP_NAMESPACE, other.dedupe_key).hex


# --- read_inbox ---------------------------------------------------------------------------


def defaults(quality: int, output_format: str) -> Settings:
    return replace(SETTINGS, default_quality=quality, default_format=output_format)


def test_inbox_of_an_upload(event_body: EventBody) -> None:
    event = recorded(event_body, "minio-put-inbox-upload.json")
    assert read_inbox(event, defaults(50, "jpeg")) == Inbox(
        tenant="acme",  # the gateway names the uploader's tenant in the metadata
        filename=f"{RID}.csv",
        source=Source(bucket=INBOX_BUCKET, key=f"uploads/{RID}.csv", etag=ETAG),
        options=Options(
            quality=80,
            format="jpeg",
            webhook_url="https://hooks.example.com/imgpipe?token=s3cr3t",
        ),
        problem=None,
    )


def test_inbox_of_a_drop(event_body: EventBody) -> None:
    event = recorded(event_body, "minio-put-inbox-drop.json")
    assert read_inbox(event, defaults(50, "webp")) == Inbox(
        tenant="drops",  # a dropped CSV's first folder names its tenant
        filename="catálogo 2024.csv",
        source=Source(bucket=INBOX_BUCKET, key=DROP_KEY, etag=ETAG),
        options=Options(quality=70, format="webp"),  # the event names no format: the default
        problem=None,
    )


def test_inbox_defaults() -> None:
    inbox = read_inbox(inbox_event(key="products.csv", **{"webhook-url": ""}), defaults(65, "jpeg"))
    assert inbox.filename == "products.csv"
    assert inbox.options == Options(quality=65, format="jpeg", webhook_url=None)
    assert inbox.problem is None


def test_inbox_format_from_metadata() -> None:
    inbox = read_inbox(inbox_event(key="a.csv", format=" AVIF "), defaults(50, "jpeg"))
    assert inbox.options.format == "avif"


@pytest.mark.parametrize(
    ("metadata", "problem"),
    [
        ({"format": "png"}, "format must be one of jpeg, webp, avif, jxl, got 'png'"),
        ({"quality": "96"}, "quality must be from 1 to 95, got 96"),
        (
            {"quality": "high"},
            "quality must be a whole number from 1 to 95 or one of auto, auto:high, "
            "auto:medium, auto:low, got 'high'",
        ),
        ({"effort": "turbo"}, "effort must be one of fast, balanced, max, got 'turbo'"),
        ({"max-bytes": "0"}, "max_bytes must be from 1 to 1000000000, got 0"),
        ({"webhook-url": "ftp://h/x"}, "webhook_url: unsupported URL scheme 'ftp'"),
    ],
)
def test_bad_options_leave_the_defaults_and_say_why(metadata: dict[str, str], problem: str) -> None:
    inbox = read_inbox(inbox_event(key="a.csv", **metadata), defaults(50, "jpeg"))
    assert inbox.options == Options(quality=50, format="jpeg")
    assert inbox.problem == problem  # ingest fails the request with it


# --- records ----------------------------------------------------------------------------


def make_row(index: int, urls: tuple[str, ...]) -> Row:
    serial, product = str(index + 1), f"Product {index + 1}"
    return Row(
        index=index,
        line=index + 2,
        serial=serial,
        product=product,
        urls=urls,
        cells=(serial, product, ", ".join(urls), "extra"),
    )


def documents(request_id: str, rows: list[Row]) -> list[Any]:
    """The row documents the records are stored as (through BSON, as MongoDB has them)."""

    def stored(rec: Record) -> Any:
        return bson.decode(bson.encode(document(rec)))

    return [stored(r) for r in records(request_id, rows)]


def test_documents() -> None:
    rows = [make_row(0, (A, B)), make_row(1, ()), make_row(2, (A, A, C))]

    row_docs = documents(RID, rows)

    assert row_docs[0] == {
        "_id": f"{RID}:0",
        "request_id": RID,
        "index": 0,
        "serial": "1",
        "product": "Product 1",
        "cells": ["1", "Product 1", f"{A}, {B}", "extra"],
        "urls": [A, B],  # a slot each: the images, pending until their outcome is written
    }
    assert [d["_id"] for d in row_docs] == [f"{RID}:0", f"{RID}:1", f"{RID}:2"]
    assert row_docs[1]["cells"] == ["2", "Product 2", "", "extra"]
    assert "urls" not in row_docs[1]  # a row without URLs has no images
    assert row_docs[2]["urls"] == [A, A, C]  # in URL order, duplicates keep their own slot


def test_documents_use_the_row_index_not_the_position() -> None:
    row_docs = documents(RID, [make_row(1000, (B,))])
    assert row_docs[0]["_id"] == f"{RID}:1000"
    assert row_docs[0]["index"] == 1000


def test_documents_of_no_rows() -> None:
    assert documents(RID, []) == []


# --- batches ------------------------------------------------------------------------------


def rows_of(count: int) -> Iterator[Row]:
    return (make_row(i, (A,)) for i in range(count))


@pytest.mark.parametrize(
    ("count", "sizes"),
    [
        (0, []),
        (1, [1]),
        (BATCH - 1, [BATCH - 1]),
        (BATCH, [BATCH]),
        (BATCH + 1, [BATCH, 1]),
        (2 * BATCH + 5, [BATCH, BATCH, 5]),
    ],
)
def test_batch_sizes(count: int, sizes: list[int]) -> None:
    result = list(batches(rows_of(count)))
    assert [len(batch) for batch in result] == sizes
    # Every row once, in order, and each batch is its own list.
    assert [row.index for batch in result for row in batch] == list(range(count))


def test_batch_is_a_thousand_rows() -> None:
    assert BATCH == 1000


def test_batches_are_lazy() -> None:
    """Bounded memory: a batch is yielded before the rows after it are read."""
    endless = (make_row(i, (A,)) for i in itertools.count())
    first = next(batches(endless))
    assert len(first) == BATCH
    assert next(endless).index == BATCH


@pytest.mark.parametrize(
    ("key", "metadata", "tenant"),
    [
        ("acme/products.csv", {}, "acme"),
        ("acme/2026/11/products.csv", {}, "acme"),
        ("products.csv", {}, ""),  # no folder, no metadata: nobody's (the request fails)
        ("acme/products.csv", {"tenant": "globex"}, "globex"),  # metadata wins
        ("products.csv", {"tenant": " globex "}, "globex"),
    ],
)
def test_tenant_of(key: str, metadata: dict[str, str], tenant: str) -> None:
    event = ObjectCreated("s3:ObjectCreated:Put", INBOX_BUCKET, key, 10, ETAG, "text/csv", metadata)
    assert tenant_of(event) == tenant
