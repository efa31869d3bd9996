"""Every bucket, exchange, queue and routing key, in one place.

The functions, the local event relay (deploy/local/relay.py), the RabbitMQ definitions and
docker-compose.yml all use these names; tests check the copies outside Python agree.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass

# Object-store buckets.
INBOX_BUCKET = "csv-inbox"
ORIGINALS_BUCKET = "original-images"
COMPRESSED_BUCKET = "compressed-images"
BUCKETS = (INBOX_BUCKET, ORIGINALS_BUCKET, COMPRESSED_BUCKET)

# Bucket events arrive on one direct exchange, published there by the object store (MinIO's
# AMQP targets in production, deploy/local/relay.py locally). MinIO gives each target one fixed
# routing key, so each bucket has its own target and routes by the bucket's name.
BUCKET_EVENTS_EXCHANGE = "bucket-events"
BUCKET_ROUTING_KEYS = {bucket: bucket for bucket in BUCKETS}

# Messages the functions send each other.
WORK_EXCHANGE = "imgpipe"
FETCH_ROUTING_KEY = "image.fetch"
# Big requests are fetched in one of a fixed number of bulk lanes. A constant, not a setting:
# the lanes are queues, and the topology must match deploy/rabbitmq/definitions.json.
BULK_LANES = 4
FETCH_BULK_ROUTING_KEYS = tuple(f"image.fetch.bulk.{lane}" for lane in range(BULK_LANES))
FAILED_ROUTING_KEY = "image.failed"
REUSED_ROUTING_KEY = "image.reused"
REQUEST_FAILED_ROUTING_KEY = "request.failed"
WEBHOOK_DUE_ROUTING_KEY = "webhook.due"

# Rejected messages (permanent failures, or too many redeliveries) land here with their reason.
DEAD_LETTER_EXCHANGE = "imgpipe.dead-letter"
# Messages coming back from a delay queue (shared/delays.py), routed by their queue's name.
RETRY_EXCHANGE = "imgpipe.retry"


@dataclass(frozen=True)
class QueueSpec:
    """A durable queue and the (exchange, routing key) pairs that feed it."""

    name: str
    bindings: tuple[tuple[str, str], ...]

    @property
    def dead_letter_queue(self) -> str:
        return f"{self.name}.dead"


CSV_UPLOADED = QueueSpec(
    "ingest.csv-uploaded", ((BUCKET_EVENTS_EXCHANGE, BUCKET_ROUTING_KEYS[INBOX_BUCKET]),)
)
FETCH_REQUESTED = QueueSpec("fetcher.fetch-requested", ((WORK_EXCHANGE, FETCH_ROUTING_KEY),))
# Fetches of big requests wait in bulk lanes, one big request per lane while there are no more
# than BULK_LANES of them (ingest picks the least busy lane; beyond that, requests sharing a lane
# go first come, first served). The fetcher consumes every lane, each with its own prefetch
# window: a 100,000-URL CSV cannot hold up a small request, nor another big one, and has at most
# PREFETCH fetches in flight per fetcher replica.
FETCH_BULK_REQUESTED = tuple(
    QueueSpec(f"fetcher.fetch-requested-bulk-{lane}", ((WORK_EXCHANGE, routing_key),))
    for lane, routing_key in enumerate(FETCH_BULK_ROUTING_KEYS)
)
ORIGINAL_STORED = QueueSpec(
    "compressor.original-stored",
    ((BUCKET_EVENTS_EXCHANGE, BUCKET_ROUTING_KEYS[ORIGINALS_BUCKET]),),
)
# The notifier hears about successes (objects written to compressed-images) and failures
# (messages from fetcher and compressor), so completion is decided in one place.
IMAGE_COMPRESSED = QueueSpec(
    "notifier.image-compressed",
    ((BUCKET_EVENTS_EXCHANGE, BUCKET_ROUTING_KEYS[COMPRESSED_BUCKET]),),
)
IMAGE_FAILED = QueueSpec("notifier.image-failed", ((WORK_EXCHANGE, FAILED_ROUTING_KEY),))
# Images whose output is one stored before: no object is written, so no bucket event comes.
IMAGE_REUSED = QueueSpec("notifier.image-reused", ((WORK_EXCHANGE, REUSED_ROUTING_KEY),))
REQUEST_FAILED = QueueSpec(
    "notifier.request-failed", ((WORK_EXCHANGE, REQUEST_FAILED_ROUTING_KEY),)
)
# Webhook deliveries get their own queue: their retries never hold up image messages.
WEBHOOK_DUE = QueueSpec("notifier.webhook-due", ((WORK_EXCHANGE, WEBHOOK_DUE_ROUTING_KEY),))
QUEUES = (
    CSV_UPLOADED,
    FETCH_REQUESTED,
    *FETCH_BULK_REQUESTED,
    ORIGINAL_STORED,
    IMAGE_COMPRESSED,
    IMAGE_FAILED,
    IMAGE_REUSED,
    REQUEST_FAILED,
    WEBHOOK_DUE,
)


def image_key(image_id: str, extension: str) -> str:
    """Object key of an image: "<request>/<row>-<slot>.<ext>" (request, product, image)."""
    request_id, row, slot = image_id.split(".")
    return f"{request_id}/{row}-{slot}.{extension}"


def variant_key(output_key: str, width: int) -> str:
    """Object key of a smaller variant of an output: "<request>/<row>-<slot>-<width>w.<ext>".

    It never starts with an image's "<row>-<slot>." prefix (the reconciler's test for an
    output) and `is_variant_key` tells it from an output (the notifier skips its event)."""
    stem, _, extension = output_key.rpartition(".")
    return f"{stem}-{width}w.{extension}"


def is_variant_key(key: str) -> bool:
    return _VARIANT_KEY.fullmatch(key) is not None


def output_key_of(key: str) -> str:
    """The output a variant key belongs to (variant_key's inverse); any other key as it is."""
    if not is_variant_key(key):
        return key
    stem, _, extension = key.rpartition(".")
    return f"{stem.rpartition('-')[0]}.{extension}"


_VARIANT_KEY = re.compile(r"[^/]+/\d+-\d+-\d+w\.[a-z0-9]+")


def fetch_routing_key(bulk_lane: int | None) -> str:
    """Where a request's fetches go: its bulk lane, or the normal lane (None: a small request)."""
    return FETCH_ROUTING_KEY if bulk_lane is None else FETCH_BULK_ROUTING_KEYS[bulk_lane]


def least_busy_lane(open_per_lane: Mapping[int, int]) -> int:
    """The bulk lane for a new big request: the one the fewest unfinished big requests hold,
    the lowest of those on a tie. `open_per_lane` counts them by lane (lanes nobody holds may
    be missing).
    """
    return min(range(BULK_LANES), key=lambda lane: open_per_lane.get(lane, 0))
