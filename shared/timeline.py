"""When each function started and finished with an image: the moments status shows (pure).

Times are epoch milliseconds (UTC). They travel with the image at no extra database write:
ingest puts `published` in the fetch message, the fetcher adds its two in the original's
object metadata, the compressor copies those into the compressed object's metadata with its
own and the original's store time (from the bucket event), and the notifier writes them all
in the one update that finishes the image.

`*_stored` moments are the object store's clock (MinIO's `eventTime`), the others the
functions' clocks: on different hosts, hops between them include the clocks' skew.
"""

from collections.abc import Mapping
from datetime import UTC, datetime
from time import time

# Moments in an image's life, in order (each one is set by the function named).
IMAGE_MOMENTS = (
    "published",  # ingest: the fetch message is handed to the broker
    "fetch_started",  # fetcher: its handler starts on the message
    "fetched",  # fetcher: the download is complete
    "original_stored",  # object store: the original is written (event time)
    "compress_started",  # compressor: its handler starts on the original's event
    "compressed",  # compressor: the encode is complete
    "compressed_stored",  # object store: the compressed copy is written (event time)
    "notify_started",  # notifier: its handler starts on the compressed object's event
)
# Carried in object metadata as x-amz-meta-t-<moment> (dashes: S3 metadata names).
_META_PREFIX = "t-"

# The intervals status reports: name → (from moment, to moment). The "to_*" ones are the hops
# between functions (queueing, event delivery); the others are a function's own work.
HOPS = {
    "to_fetcher": ("published", "fetch_started"),
    "downloading": ("fetch_started", "fetched"),
    "storing_original": ("fetched", "original_stored"),
    "to_compressor": ("original_stored", "compress_started"),
    "compressing": ("compress_started", "compressed"),
    "storing_compressed": ("compressed", "compressed_stored"),
    "to_notifier": ("compressed_stored", "notify_started"),
}


def now_ms() -> int:
    return int(time() * 1000)


def to_metadata(moments: Mapping[str, int]) -> dict[str, str]:
    """Object metadata entries for the moments known so far."""
    return {_META_PREFIX + name.replace("_", "-"): str(ms) for name, ms in moments.items()}


def from_metadata(metadata: Mapping[str, str]) -> dict[str, int]:
    """The moments found in (lower-cased) object metadata; malformed entries are dropped."""
    moments = {}
    for name in IMAGE_MOMENTS:
        raw = metadata.get(_META_PREFIX + name.replace("_", "-"), "")
        if raw.isdigit():
            moments[name] = int(raw)
    return moments


def parse_event_time(raw: object) -> int | None:
    """MinIO's `eventTime` ("2026-11-24T22:11:33.688Z") as epoch ms; None if absent or odd."""
    if not isinstance(raw, str) or not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def iso(ms: int) -> str:
    """Epoch ms as ISO 8601 UTC with milliseconds, the way status shows times."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds")


def hops(moments: Mapping[str, int]) -> dict[str, int]:
    """Milliseconds spent in each interval whose two ends are known."""
    return {
        name: moments[end] - moments[start]
        for name, (start, end) in HOPS.items()
        if start in moments and end in moments
    }
