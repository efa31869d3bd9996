"""Names in one place: object keys of images and a consistent queue topology."""

import pytest

from shared.db import image_id
from shared.names import (
    BUCKET_EVENTS_EXCHANGE,
    BUCKET_ROUTING_KEYS,
    BUCKETS,
    COMPRESSED_BUCKET,
    CSV_UPLOADED,
    DEAD_LETTER_EXCHANGE,
    FAILED_ROUTING_KEY,
    FETCH_BULK_REQUESTED,
    FETCH_BULK_ROUTING_KEY,
    FETCH_REQUESTED,
    FETCH_ROUTING_KEY,
    IMAGE_COMPRESSED,
    IMAGE_FAILED,
    INBOX_BUCKET,
    ORIGINAL_STORED,
    ORIGINALS_BUCKET,
    QUEUES,
    REQUEST_FAILED,
    REQUEST_FAILED_ROUTING_KEY,
    WEBHOOK_DUE,
    WEBHOOK_DUE_ROUTING_KEY,
    WORK_EXCHANGE,
    QueueSpec,
    fetch_routing_key,
    image_key,
)

RID = "e6ffb05b235749b081bb556eda014c40"
# Declared by shared.broker.declare_topology.
DECLARED_EXCHANGES = {BUCKET_EVENTS_EXCHANGE, WORK_EXCHANGE, DEAD_LETTER_EXCHANGE}


@pytest.mark.parametrize(
    ("image", "extension", "expected"),
    [
        (f"{RID}.0.0", "jpg", f"{RID}/0-0.jpg"),
        (f"{RID}.12.3", "webp", f"{RID}/12-3.webp"),
        (f"{RID}.9999.49", "png", f"{RID}/9999-49.png"),
    ],
)
def test_image_key(image: str, extension: str, expected: str) -> None:
    assert image_key(image, extension) == expected


def test_image_key_of_a_database_image_id() -> None:
    assert image_key(image_id(RID, 4, 2), "jpg") == f"{RID}/4-2.jpg"


@pytest.mark.parametrize("bad", [RID, f"{RID}.1", f"{RID}.1.2.3", ""])
def test_image_key_needs_three_parts(bad: str) -> None:
    with pytest.raises(ValueError):
        image_key(bad, "jpg")


def test_queue_names_are_unique() -> None:
    names = [spec.name for spec in QUEUES]
    dead = [spec.dead_letter_queue for spec in QUEUES]
    assert len(set(names)) == len(names) == 8
    assert len(set(names + dead)) == 16


def test_dead_letter_queue_name() -> None:
    assert FETCH_REQUESTED.dead_letter_queue == "fetcher.fetch-requested.dead"


@pytest.mark.parametrize("spec", QUEUES, ids=lambda spec: spec.name)
def test_bindings_use_declared_exchanges(spec: QueueSpec) -> None:
    assert spec.bindings, "a queue without bindings never receives anything"
    for exchange, routing_key in spec.bindings:
        assert exchange in DECLARED_EXCHANGES
        assert exchange != DEAD_LETTER_EXCHANGE  # dead letters are routed by queue name
        assert routing_key


def test_each_bucket_feeds_one_queue() -> None:
    fed = {
        routing_key: spec.name
        for spec in QUEUES
        for exchange, routing_key in spec.bindings
        if exchange == BUCKET_EVENTS_EXCHANGE
    }
    assert fed == {
        INBOX_BUCKET: CSV_UPLOADED.name,
        ORIGINALS_BUCKET: ORIGINAL_STORED.name,
        COMPRESSED_BUCKET: IMAGE_COMPRESSED.name,
    }
    assert {bucket: bucket for bucket in BUCKETS} == BUCKET_ROUTING_KEYS


def test_every_work_routing_key_is_bound_exactly_once() -> None:
    """Publishes are mandatory: an unbound key fails, a doubly bound one duplicates work."""
    bound = [
        (routing_key, spec.name)
        for spec in QUEUES
        for exchange, routing_key in spec.bindings
        if exchange == WORK_EXCHANGE
    ]
    assert sorted(bound) == [
        (FAILED_ROUTING_KEY, IMAGE_FAILED.name),
        (FETCH_ROUTING_KEY, FETCH_REQUESTED.name),
        (FETCH_BULK_ROUTING_KEY, FETCH_BULK_REQUESTED.name),
        (REQUEST_FAILED_ROUTING_KEY, REQUEST_FAILED.name),
        (WEBHOOK_DUE_ROUTING_KEY, WEBHOOK_DUE.name),
    ]


def test_buckets_are_distinct() -> None:
    assert len(set(BUCKETS)) == 3


def test_big_requests_take_the_bulk_lane() -> None:
    assert fetch_routing_key(999, 1000) == FETCH_ROUTING_KEY
    assert fetch_routing_key(1000, 1000) == FETCH_BULK_ROUTING_KEY
