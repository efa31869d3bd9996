"""Names in one place: object keys of images and a consistent queue topology."""

import pytest

from shared.names import (
    BUCKET_EVENTS_EXCHANGE,
    BUCKET_ROUTING_KEYS,
    BUCKETS,
    BULK_LANES,
    COMPRESSED_BUCKET,
    CSV_UPLOADED,
    DEAD_LETTER_EXCHANGE,
    FAILED_ROUTING_KEY,
    FETCH_BULK_REQUESTED,
    FETCH_BULK_ROUTING_KEYS,
    FETCH_REQUESTED,
    FETCH_ROUTING_KEY,
    IMAGE_COMPRESSED,
    IMAGE_FAILED,
    IMAGE_REUSED,
    INBOX_BUCKET,
    ORIGINAL_STORED,
    ORIGINALS_BUCKET,
    QUEUES,
    REQUEST_FAILED,
    REQUEST_FAILED_ROUTING_KEY,
    REUSED_ROUTING_KEY,
    WEBHOOK_DUE,
    WEBHOOK_DUE_ROUTING_KEY,
    WORK_EXCHANGE,
    QueueSpec,
    fetch_routing_key,
    image_key,
    least_busy_lane,
)
from shared.records import image_id

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
    assert len(set(names)) == len(names) == 8 + BULK_LANES
    assert len(set(names + dead)) == 2 * len(names)


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
        *((f"image.fetch.bulk.{n}", f"fetcher.fetch-requested-bulk-{n}") for n in range(4)),
        (REUSED_ROUTING_KEY, IMAGE_REUSED.name),
        (REQUEST_FAILED_ROUTING_KEY, REQUEST_FAILED.name),
        (WEBHOOK_DUE_ROUTING_KEY, WEBHOOK_DUE.name),
    ]


def test_buckets_are_distinct() -> None:
    assert len(set(BUCKETS)) == 3


def test_fetch_routing_keys() -> None:
    assert fetch_routing_key(None) == FETCH_ROUTING_KEY
    assert [fetch_routing_key(lane) for lane in range(BULK_LANES)] == list(FETCH_BULK_ROUTING_KEYS)
    with pytest.raises(IndexError):
        fetch_routing_key(BULK_LANES)


def test_each_bulk_lane_is_its_own_queue() -> None:
    assert BULK_LANES == 4
    for lane, spec in enumerate(FETCH_BULK_REQUESTED):
        assert spec.bindings == ((WORK_EXCHANGE, fetch_routing_key(lane)),)
        assert spec in QUEUES


@pytest.mark.parametrize(
    ("open_per_lane", "expected"),
    [
        ({}, 0),  # nothing open: the first lane
        ({0: 1}, 1),
        ({0: 1, 1: 1, 2: 1}, 3),
        ({0: 1, 1: 1, 2: 1, 3: 1}, 0),  # all taken once: share, lowest first
        ({0: 2, 1: 1, 2: 2, 3: 1}, 1),  # tie between 1 and 3: the lower
        ({0: 3, 1: 0, 2: 5}, 1),  # a lane counted as 0 is as free as a missing one
        ({1: 1, 3: 0}, 0),
        ({0: 1, 1: 1, 2: 1, 3: 1, 7: 0}, 0),  # a lane outside the topology is never chosen
    ],
)
def test_least_busy_lane(open_per_lane: dict[int, int], expected: int) -> None:
    assert least_busy_lane(open_per_lane) == expected
