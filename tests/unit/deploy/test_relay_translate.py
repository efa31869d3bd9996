"""The relay's pure part: filer metadata events → MinIO's AMQP event message."""

import hashlib
from typing import Any

import orjson
import pytest

from deploy.local.filer_wire import Entry, MetadataEvent
from deploy.local.translate import canonical_header_key, translate
from shared.events import decode_bucket_event
from shared.names import BUCKET_ROUTING_KEYS, COMPRESSED_BUCKET, ORIGINALS_BUCKET

TS_NS = 1_795_558_293_688_853_742  # 2026-11-24T22:11:33.688Z
HELLO_MD5 = hashlib.md5(b"hello").hexdigest()


def object_entry(name: str = "photo.jpg", **overrides: Any) -> Entry:
    """An entry as SeaweedFS's S3 gateway writes it for a PUT of b"hello"."""
    fields: dict[str, Any] = {
        "file_size": 5,
        "mime": "image/jpeg",
        "md5": hashlib.md5(b"hello").digest(),
        "extended": {
            "Seaweed-X-Amz-ETag": HELLO_MD5.encode(),
            "Seaweed-X-Amz-Owner": b"admin",
            "X-Amz-Meta-Request-Id": b"req-1",
        },
    }
    return Entry(name, **(fields | overrides))


def created(entry: Entry, directory: str = f"/buckets/{ORIGINALS_BUCKET}") -> MetadataEvent:
    return MetadataEvent(directory, TS_NS, new_entry=entry, new_parent_path=directory)


def record_of(event: MetadataEvent) -> dict[str, Any]:
    publication = translate(event)
    assert publication is not None
    records: list[dict[str, Any]] = orjson.loads(publication.body)["Records"]
    assert len(records) == 1
    return records[0]


def test_create_becomes_minio_put_event() -> None:
    publication = translate(created(object_entry("img/photo.jpg")))

    assert publication is not None
    assert publication.routing_key == BUCKET_ROUTING_KEYS[ORIGINALS_BUCKET]
    assert publication.headers == {
        "minio-bucket": ORIGINALS_BUCKET,
        "minio-event": "s3:ObjectCreated:Put",
    }
    assert orjson.loads(publication.body) == {
        "EventName": "s3:ObjectCreated:Put",
        "Key": f"{ORIGINALS_BUCKET}/img/photo.jpg",
        "Records": [
            {
                "eventVersion": "2.0",
                "eventSource": "minio:s3",
                "awsRegion": "",
                "eventTime": "2026-11-24T22:11:33.688Z",
                "eventName": "s3:ObjectCreated:Put",
                "userIdentity": {"principalId": "admin"},
                "requestParameters": {"principalId": "admin", "region": "", "sourceIPAddress": ""},
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
                        "name": ORIGINALS_BUCKET,
                        "ownerIdentity": {"principalId": "admin"},
                        "arn": f"arn:aws:s3:::{ORIGINALS_BUCKET}",
                    },
                    "object": {
                        "key": "img%2Fphoto.jpg",
                        "size": 5,
                        "eTag": HELLO_MD5,
                        "contentType": "image/jpeg",
                        "userMetadata": {
                            "X-Amz-Meta-Request-Id": "req-1",
                            "content-type": "image/jpeg",
                        },
                        "sequencer": f"{TS_NS:X}",
                    },
                },
                "source": {"host": "", "port": "", "userAgent": ""},
            }
        ],
    }


def test_overwrite_publishes_the_new_version() -> None:
    old = object_entry()
    new = object_entry(file_size=6, extended={"Seaweed-X-Amz-ETag": b"6e809cbd"})
    event = MetadataEvent(f"/buckets/{ORIGINALS_BUCKET}", TS_NS, old, new, "")

    s3_object = record_of(event)["s3"]["object"]

    assert (s3_object["size"], s3_object["eTag"]) == (6, "6e809cbd")


@pytest.mark.parametrize(
    "event",
    [
        pytest.param(
            MetadataEvent(f"/buckets/{ORIGINALS_BUCKET}", TS_NS, old_entry=object_entry()),
            id="delete",
        ),
        pytest.param(created(Entry("img", is_directory=True)), id="directory"),
        pytest.param(created(Entry(ORIGINALS_BUCKET, is_directory=True), "/buckets"), id="bucket"),
        pytest.param(
            created(object_entry("0001_x.part"), f"/buckets/{ORIGINALS_BUCKET}/.uploads/abc_123"),
            id="multipart-part",
        ),
        pytest.param(created(object_entry(), "/buckets/someone-elses"), id="other-bucket"),
        pytest.param(created(object_entry(), "/topics/.system/log"), id="outside-buckets"),
        pytest.param(MetadataEvent(f"/buckets/{ORIGINALS_BUCKET}", TS_NS), id="no-entries"),
    ],
)
def test_events_minio_would_not_publish_are_skipped(event: MetadataEvent) -> None:
    assert translate(event) is None


def test_rename_into_a_bucket_is_located_by_the_new_parent() -> None:
    event = MetadataEvent(
        "/buckets/elsewhere", TS_NS, object_entry(), object_entry(), f"/buckets/{COMPRESSED_BUCKET}"
    )

    publication = translate(event)

    assert publication is not None
    assert publication.object_path == f"{COMPRESSED_BUCKET}/photo.jpg"


@pytest.mark.parametrize(
    ("key", "escaped"),
    [
        ("a b/c d.jpg", "a+b%2Fc+d.jpg"),
        ("héllo wörld.png", "h%C3%A9llo+w%C3%B6rld.png"),
        ("1+1=2&x?.jpg", "1%2B1%3D2%26x%3F.jpg"),
        ("safe-_.~chars", "safe-_.~chars"),
    ],
)
def test_keys_are_escaped_like_go_query_escape(key: str, escaped: str) -> None:
    directory, _, name = f"/buckets/{ORIGINALS_BUCKET}/{key}".rpartition("/")
    publication = translate(created(object_entry(name), directory))

    assert publication is not None
    body = orjson.loads(publication.body)
    assert body["Key"] == f"{ORIGINALS_BUCKET}/{key}"  # MinIO unescapes the top-level key
    assert body["Records"][0]["s3"]["object"]["key"] == escaped
    assert decode_bucket_event(publication.body)[0].key == key


def test_user_metadata_uses_go_canonical_names() -> None:
    extended = {
        "X-Amz-Meta-Request-Id": b"r1",
        "x-amz-meta-image-id": b"img-7",
        "X-AMZ-META-QUALITY": b"80",
        "Seaweed-X-Amz-Owner": b"admin",
        "X-Seaweedfs-Upload-Id": b"abc",
    }

    metadata = record_of(created(object_entry(extended=extended)))["s3"]["object"]["userMetadata"]

    assert metadata == {
        "X-Amz-Meta-Image-Id": "img-7",
        "X-Amz-Meta-Quality": "80",
        "X-Amz-Meta-Request-Id": "r1",
        "content-type": "image/jpeg",
    }


@pytest.mark.parametrize(
    ("name", "canonical"),
    [
        ("x-amz-meta-request-id", "X-Amz-Meta-Request-Id"),
        ("X-AMZ-META-A1", "X-Amz-Meta-A1"),
        ("x-amz-meta-with space", "x-amz-meta-with space"),  # Go leaves invalid names alone
    ],
)
def test_canonical_header_key(name: str, canonical: str) -> None:
    assert canonical_header_key(name) == canonical


def test_missing_mime_is_minio_default_content_type() -> None:
    s3_object = record_of(created(object_entry(mime="")))["s3"]["object"]

    assert s3_object["contentType"] == "application/octet-stream"
    assert s3_object["userMetadata"]["content-type"] == "application/octet-stream"


@pytest.mark.parametrize(
    ("extended", "md5", "expected"),
    [
        pytest.param({"Seaweed-X-Amz-ETag": HELLO_MD5.encode()}, b"", HELLO_MD5, id="attribute"),
        pytest.param(
            {"Seaweed-X-Amz-ETag": f'"{HELLO_MD5}"'.encode()}, b"", HELLO_MD5, id="quoted"
        ),
        pytest.param({}, hashlib.md5(b"hello").digest(), HELLO_MD5, id="md5-only"),
    ],
)
def test_etag_sources(extended: dict[str, bytes], md5: bytes, expected: str) -> None:
    entry = object_entry(extended=extended, md5=md5)

    assert record_of(created(entry))["s3"]["object"]["eTag"] == expected


def test_multipart_upload_keeps_part_count_and_event_name() -> None:
    entry = object_entry(
        "big.bin", md5=b"", extended={"Seaweed-X-Amz-ETag": b"7d368e72ecdd3ff1d9b28f29481a125f-2"}
    )
    publication = translate(created(entry))

    assert publication is not None
    body = orjson.loads(publication.body)
    assert body["EventName"] == "s3:ObjectCreated:CompleteMultipartUpload"
    assert body["Records"][0]["s3"]["object"]["eTag"] == "7d368e72ecdd3ff1d9b28f29481a125f-2"


def test_empty_object_omits_size_like_go_omitempty() -> None:
    s3_object = record_of(created(object_entry(file_size=0)))["s3"]["object"]

    assert "size" not in s3_object


def test_consumer_decodes_the_relay_message() -> None:
    entry = object_entry(
        "in/a b+c.jpg".rpartition("/")[2],
        extended={
            "Seaweed-X-Amz-ETag": HELLO_MD5.encode(),
            "X-Amz-Meta-Request-Id": b"req-1",
            "X-Amz-Meta-Image-Id": b"img-2",
        },
    )
    publication = translate(created(entry, f"/buckets/{ORIGINALS_BUCKET}/in"))
    assert publication is not None

    (event,) = decode_bucket_event(publication.body)

    assert event.event_name == "s3:ObjectCreated:Put"
    assert (event.bucket, event.key) == (ORIGINALS_BUCKET, "in/a b+c.jpg")
    assert (event.size, event.etag, event.content_type) == (5, HELLO_MD5, "image/jpeg")
    assert event.metadata == {"request-id": "req-1", "image-id": "img-2"}
