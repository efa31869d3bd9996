"""Filer metadata events → the message MinIO's AMQP target publishes for the same write.

Pure functions, no I/O. The message shape follows MinIO's event code (cmd/event-notification.go,
internal/event/event.go, internal/event/target/amqp.go): a `{"EventName", "Key", "Records"}` log
with one S3-style record. SeaweedFS does not record the request's client address, user agent or
request id, so those fields are present but empty.
"""

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote_plus

import orjson

from deploy.local.filer_wire import Entry, MetadataEvent
from shared.names import BUCKET_ROUTING_KEYS, BUCKETS

PUT = "s3:ObjectCreated:Put"
COMPLETE_MULTIPART_UPLOAD = "s3:ObjectCreated:CompleteMultipartUpload"

_BUCKETS_DIR = "/buckets/"
_MULTIPART_STAGING = ".uploads/"  # SeaweedFS keeps multipart parts under <bucket>/.uploads/
_ETAG_ATTRIBUTE = "Seaweed-X-Amz-ETag"
_OWNER_ATTRIBUTE = "Seaweed-X-Amz-Owner"
_USER_META_PREFIX = "x-amz-meta-"
# SeaweedFS stores no mime for application/octet-stream, MinIO's default content type.
_DEFAULT_CONTENT_TYPE = "application/octet-stream"
_HEADER_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


@dataclass(frozen=True)
class Publication:
    """One AMQP message for the bucket-events exchange."""

    routing_key: str
    headers: dict[str, str]
    body: bytes
    object_path: str  # "<bucket>/<key>", for logs


def translate(event: MetadataEvent) -> Publication | None:
    """The message MinIO would publish for this filer event, or None if it would publish none.

    Files created or overwritten in one of our buckets qualify; directories, deletes, multipart
    parts and anything outside our buckets do not.
    """
    entry = event.new_entry
    if entry is None or entry.is_directory:
        return None
    location = object_location(event.new_parent_path or event.directory, entry.name)
    if location is None:
        return None
    bucket, key = location
    name = COMPLETE_MULTIPART_UPLOAD if "-" in etag(entry) else PUT
    record = minio_record(name, bucket, key, entry, event.ts_ns)
    body = {"EventName": name, "Key": f"{bucket}/{key}", "Records": [record]}
    return Publication(
        routing_key=BUCKET_ROUTING_KEYS[bucket],
        headers={"minio-bucket": bucket, "minio-event": name},
        body=orjson.dumps(body),
        object_path=f"{bucket}/{key}",
    )


def object_location(directory: str, name: str) -> tuple[str, str] | None:
    """Split a filer path into (bucket, object key); None outside our buckets or for parts."""
    if not directory.startswith(_BUCKETS_DIR):
        return None
    bucket, _, prefix = directory.removeprefix(_BUCKETS_DIR).partition("/")
    key = f"{prefix}/{name}" if prefix else name
    if bucket not in BUCKETS or key.startswith(_MULTIPART_STAGING):
        return None
    return bucket, key


def minio_record(
    event_name: str, bucket: str, key: str, entry: Entry, ts_ns: int
) -> dict[str, object]:
    """One S3 event record as MinIO writes it (Go's omitempty fields left out when empty)."""
    owner = entry.extended.get(_OWNER_ATTRIBUTE, b"").decode(errors="replace")
    content_type = entry.mime or _DEFAULT_CONTENT_TYPE
    s3_object = {
        "key": quote_plus(key, safe=""),  # Go's url.QueryEscape, as MinIO escapes keys
        "size": entry.file_size,
        "eTag": etag(entry),
        "contentType": content_type,
        "userMetadata": user_metadata(entry, content_type),
        "sequencer": f"{ts_ns:016X}",
    }
    return {
        "eventVersion": "2.0",
        "eventSource": "minio:s3",
        "awsRegion": "",
        "eventTime": event_time(ts_ns),
        "eventName": event_name,
        "userIdentity": {"principalId": owner},
        "requestParameters": {"principalId": owner, "region": "", "sourceIPAddress": ""},
        "responseElements": {
            "x-amz-id-2": "",
            "x-amz-request-id": "",
            "x-minio-deployment-id": "",
            "x-minio-origin-endpoint": "",
        },
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "Config",
            "bucket": {
                "name": bucket,
                "ownerIdentity": {"principalId": owner},
                "arn": f"arn:aws:s3:::{bucket}",
            },
            "object": {name: value for name, value in s3_object.items() if value},
        },
        "source": {"host": "", "port": "", "userAgent": ""},
    }


def etag(entry: Entry) -> str:
    """The object's S3 ETag without quotes; multipart ETags keep their "-<parts>" suffix.

    The S3 gateway stores it as text in an extended attribute; entries written another way only
    have the raw MD5 digest in their attributes.
    """
    stored = entry.extended.get(_ETAG_ATTRIBUTE)
    return stored.decode().strip('"') if stored else entry.md5.hex()


def user_metadata(entry: Entry, content_type: str) -> dict[str, str]:
    """MinIO's userMetadata: content-type plus every X-Amz-Meta-* header, keys in Go's order."""
    metadata = {"content-type": content_type}
    for name, value in entry.extended.items():
        if name.lower().startswith(_USER_META_PREFIX):
            metadata[canonical_header_key(name)] = value.decode(errors="replace")
    return dict(sorted(metadata.items()))


def canonical_header_key(name: str) -> str:
    """Go's http.CanonicalHeaderKey, as MinIO names metadata: x-amz-meta-a-b → X-Amz-Meta-A-B."""
    if not _HEADER_TOKEN.fullmatch(name):
        return name  # Go leaves names with invalid characters alone
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


def event_time(ts_ns: int) -> str:
    """MinIO's event time format (UTC, milliseconds): 2006-01-02T15:04:05.000Z."""
    moment = datetime.fromtimestamp(ts_ns // 1_000_000_000, tz=UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{ts_ns // 1_000_000 % 1000:03d}Z"
