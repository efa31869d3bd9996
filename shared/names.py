"""Every bucket, exchange, queue and routing key, in one place.

The functions, the local event relay (deploy/local/relay.py), the RabbitMQ definitions and
docker-compose.yml all use these names; tests check the copies outside Python agree.
"""

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
FETCH_BULK_ROUTING_KEY = "image.fetch.bulk"
FAILED_ROUTING_KEY = "image.failed"
REQUEST_FAILED_ROUTING_KEY = "request.failed"
WEBHOOK_DUE_ROUTING_KEY = "webhook.due"

# Rejected messages (permanent failures, or too many redeliveries) land here with their reason.
DEAD_LETTER_EXCHANGE = "imgpipe.dead-letter"
# Messages coming back from a delay queue (shared/retry.py), routed by their queue's name.
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
# Fetches of big requests wait in a lane of their own: the fetcher consumes both lanes, each
# with its own prefetch window, so a 100,000-URL CSV cannot hold up a small one behind it.
FETCH_BULK_REQUESTED = QueueSpec(
    "fetcher.fetch-requested-bulk", ((WORK_EXCHANGE, FETCH_BULK_ROUTING_KEY),)
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
REQUEST_FAILED = QueueSpec(
    "notifier.request-failed", ((WORK_EXCHANGE, REQUEST_FAILED_ROUTING_KEY),)
)
# Webhook deliveries get their own queue: their retries never hold up image messages.
WEBHOOK_DUE = QueueSpec("notifier.webhook-due", ((WORK_EXCHANGE, WEBHOOK_DUE_ROUTING_KEY),))
QUEUES = (
    CSV_UPLOADED,
    FETCH_REQUESTED,
    FETCH_BULK_REQUESTED,
    ORIGINAL_STORED,
    IMAGE_COMPRESSED,
    IMAGE_FAILED,
    REQUEST_FAILED,
    WEBHOOK_DUE,
)

# Object user metadata (sent as X-Amz-Meta-<name>, read back case-insensitively).
META_REQUEST_ID = "request-id"
META_TENANT = "tenant"
META_IMAGE_ID = "image-id"
META_QUALITY = "quality"
META_WEBHOOK_URL = "webhook-url"
META_SOURCE_BYTES = "source-bytes"
META_ORIGINAL_KEY = "original-key"


def image_key(image_id: str, extension: str) -> str:
    """Object key of an image: "<request>/<row>-<slot>.<ext>" (request, product, image)."""
    request_id, row, slot = image_id.split(".")
    return f"{request_id}/{row}-{slot}.{extension}"


def fetch_routing_key(request_images: int, bulk_from: int) -> str:
    """The fetch lane of a request: the bulk lane once it has `bulk_from` images or more."""
    return FETCH_BULK_ROUTING_KEY if request_images >= bulk_from else FETCH_ROUTING_KEY
