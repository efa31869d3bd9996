"""Wire formats: MinIO bucket events (recorded payloads) and our own versioned messages."""

from collections.abc import Callable
from dataclasses import FrozenInstanceError, replace
from typing import Any

import msgspec
import orjson
import pytest

from shared.errors import PermanentError
from shared.events import (
    FETCHES_PER_MESSAGE,
    SCHEMA_VERSION,
    FetchBatch,
    FetchRequested,
    ImageFailed,
    ImageReused,
    ObjectCreated,
    RequestFailed,
    batches_of,
    decode_bucket_event,
    encode_bucket_event,
    user_metadata,
)
from shared.names import COMPRESSED_BUCKET, INBOX_BUCKET, ORIGINALS_BUCKET

RID = "e6ffb05b235749b081bb556eda014c40"

EventBody = Callable[[str], bytes]
EventJson = Callable[[str], dict[str, Any]]


def only(records: list[ObjectCreated]) -> ObjectCreated:
    assert len(records) == 1
    return records[0]


# --- MinIO bucket events ------------------------------------------------------------------


def test_put_original(event_body: EventBody) -> None:
    event = only(decode_bucket_event(event_body("minio-put-original.json")))

    assert event.event_name == "s3:ObjectCreated:Put"
    assert event.bucket == ORIGINALS_BUCKET
    assert event.key == f"{RID}/0-1.jpg"  # "%2F" unescaped
    assert event.size == 59366
    assert event.etag == "98111df294415ff3bd236e9b2b31e091"
    assert event.content_type == "image/jpeg"
    # Prefix removed, names lower-cased; "content-type" is not user metadata.
    assert event.metadata == {
        "request-id": RID,
        "image-id": f"{RID}.0.1",
        "quality": "80",
    }
    assert event.dedupe_key == f"original-images/{RID}/0-1.jpg#98111df294415ff3bd236e9b2b31e091"
    assert event.event_time_ms == 1748942067512  # eventTime 2025-06-03T09:14:27.512Z


def test_put_inbox_upload(event_body: EventBody) -> None:
    event = only(decode_bucket_event(event_body("minio-put-inbox-upload.json")))

    assert event.bucket == INBOX_BUCKET
    assert event.key == f"uploads/{RID}.csv"
    assert event.size == 411
    assert event.etag == "f69c93414df3908cbbbbcc4a9ad9d7e2"
    assert event.content_type == "text/csv"
    assert event.metadata == {
        "request-id": RID,
        "tenant": "acme",
        "quality": "80",
        "webhook-url": "https://hooks.example.com/imgpipe?token=s3cr3t",
    }


def test_put_inbox_drop_unescapes_key_like_a_query_string(event_body: EventBody) -> None:
    event = only(decode_bucket_event(event_body("minio-put-inbox-drop.json")))

    # "drops%2FSpring+sale%2Fcat%C3%A1logo+2024.csv": "+" is a space, "%C3%A1" is UTF-8 "á".
    assert event.key == "drops/Spring sale/catálogo 2024.csv"
    assert event.bucket == INBOX_BUCKET
    assert event.metadata == {"quality": "70"}
    assert event.dedupe_key == (
        "csv-inbox/drops/Spring sale/catálogo 2024.csv#f69c93414df3908cbbbbcc4a9ad9d7e2"
    )


def test_escaped_plus_stays_a_plus(event_json: EventJson) -> None:
    raw = event_json("minio-put-inbox-drop.json")
    raw["Records"][0]["s3"]["object"]["key"] = "a%2Bb+c%25d.csv"  # QueryEscape("a+b c%d.csv")

    assert only(decode_bucket_event(orjson.dumps(raw))).key == "a+b c%d.csv"


def test_removed_records_are_skipped(event_body: EventBody) -> None:
    event = only(decode_bucket_event(event_body("minio-delete-and-put-compressed.json")))

    assert event.event_name == "s3:ObjectCreated:Put"
    assert event.bucket == COMPRESSED_BUCKET
    assert event.key == f"{RID}/0-1.jpg"
    assert event.size == 21873
    assert event.etag == "2b98a4ad988a18c42682f388901f2672"
    assert event.metadata == {
        "request-id": RID,
        "image-id": f"{RID}.0.1",
        "original-key": f"{RID}/0-1.jpg",
        "source-bytes": "59366",
    }


def test_only_removed_records_decode_to_nothing(event_json: EventJson) -> None:
    raw = event_json("minio-delete-and-put-compressed.json")
    raw["Records"] = raw["Records"][:1]

    assert decode_bucket_event(orjson.dumps(raw)) == []


def test_no_records_decode_to_nothing() -> None:
    assert decode_bucket_event(b'{"Records": []}') == []


def test_every_created_record_is_kept_in_order(event_json: EventJson) -> None:
    upload = event_json("minio-put-inbox-upload.json")["Records"][0]
    drop = event_json("minio-put-inbox-drop.json")["Records"][0]
    drop["eventName"] = "s3:ObjectCreated:CompleteMultipartUpload"
    drop["s3"]["object"]["eTag"] = "0c78aef83f66abc1fa1e8477f296d394-3"

    events = decode_bucket_event(orjson.dumps({"Records": [upload, drop]}))

    assert [e.key for e in events] == [f"uploads/{RID}.csv", "drops/Spring sale/catálogo 2024.csv"]
    assert events[1].event_name == "s3:ObjectCreated:CompleteMultipartUpload"
    assert events[1].etag == "0c78aef83f66abc1fa1e8477f296d394-3"


def test_metadata_names_match_case_insensitively(event_json: EventJson) -> None:
    raw = event_json("minio-put-original.json")
    obj = raw["Records"][0]["s3"]["object"]
    obj["userMetadata"] = {
        "x-amz-meta-request-id": RID,  # lower case, as some S3 servers send it
        "X-AMZ-META-IMAGE-ID": f"{RID}.0.1",
        "X-Amz-Meta-Quality": "80",
        "content-type": "image/jpeg",
    }

    event = only(decode_bucket_event(orjson.dumps(raw)))

    assert event.metadata == {"request-id": RID, "image-id": f"{RID}.0.1", "quality": "80"}


def test_quoted_etag_is_unquoted(event_json: EventJson) -> None:
    raw = event_json("minio-put-original.json")
    raw["Records"][0]["s3"]["object"]["eTag"] = '"98111df294415ff3bd236e9b2b31e091"'

    event = only(decode_bucket_event(orjson.dumps(raw)))

    assert event.etag == "98111df294415ff3bd236e9b2b31e091"
    assert event.dedupe_key.endswith("#98111df294415ff3bd236e9b2b31e091")


def test_optional_object_fields_have_defaults(event_json: EventJson) -> None:
    raw = event_json("minio-put-original.json")
    obj = raw["Records"][0]["s3"]["object"]
    for name in ("size", "eTag", "contentType", "userMetadata"):
        del obj[name]

    event = only(decode_bucket_event(orjson.dumps(raw)))

    assert (event.size, event.etag, event.content_type, event.metadata) == (0, "", "", {})


def test_object_created_is_frozen(event_body: EventBody) -> None:
    event = only(decode_bucket_event(event_body("minio-put-original.json")))
    with pytest.raises(FrozenInstanceError):
        event.key = "elsewhere"  # type: ignore[misc]


def test_user_metadata_keeps_only_prefixed_names() -> None:
    raw = {
        "content-type": "text/csv",
        "X-Amz-Meta-Quality": "80",
        "X-Amz-Server-Side-Encryption": "AES256",
        "X-Amz-Meta-Webhook-Url": "https://hooks.example.com/x",
    }
    assert user_metadata(raw) == {"quality": "80", "webhook-url": "https://hooks.example.com/x"}


def _without_s3(raw: dict[str, Any]) -> dict[str, Any]:
    del raw["Records"][0]["s3"]
    return raw


def _without_object(raw: dict[str, Any]) -> dict[str, Any]:
    del raw["Records"][0]["s3"]["object"]
    return raw


def _without_event_name(raw: dict[str, Any]) -> dict[str, Any]:
    del raw["Records"][0]["eventName"]
    return raw


def _without_bucket_name(raw: dict[str, Any]) -> dict[str, Any]:
    del raw["Records"][0]["s3"]["bucket"]["name"]
    return raw


def _metadata_as_list(raw: dict[str, Any]) -> dict[str, Any]:
    raw["Records"][0]["s3"]["object"]["userMetadata"] = ["X-Amz-Meta-Quality"]
    return raw


@pytest.mark.parametrize(
    "breaks",
    [_without_s3, _without_object, _without_event_name, _without_bucket_name, _metadata_as_list],
)
def test_malformed_record_is_permanent(
    event_json: EventJson, breaks: Callable[[dict[str, Any]], dict[str, Any]]
) -> None:
    body = orjson.dumps(breaks(event_json("minio-put-original.json")))
    with pytest.raises(PermanentError, match="not a MinIO bucket event"):
        decode_bucket_event(body)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"not json", id="not-json"),
        pytest.param(b"\xff\xfe{}", id="not-utf8"),
        pytest.param(b"{}", id="no-records"),
        pytest.param(b'{"records": []}', id="records-wrong-case"),
        pytest.param(b"[]", id="top-level-list"),
        pytest.param(b"null", id="null"),
        pytest.param(b'{"Records": null}', id="records-null"),
        pytest.param(b'{"Records": {"eventName": "s3:ObjectCreated:Put"}}', id="records-dict"),
        pytest.param(b'{"Records": "s3:ObjectCreated:Put"}', id="records-string"),
        pytest.param(b'{"Records": [null]}', id="record-null"),
        pytest.param(b'{"Records": [{"eventName": "s3:ObjectCreated:Put"}]}', id="record-no-s3"),
    ],
)
def test_malformed_body_is_permanent(body: bytes) -> None:
    with pytest.raises(PermanentError, match="not a MinIO bucket event"):
        decode_bucket_event(body)


def test_non_numeric_size_is_permanent(event_json: EventJson) -> None:
    raw = event_json("minio-put-original.json")
    raw["Records"][0]["s3"]["object"]["size"] = "large"
    with pytest.raises(PermanentError):
        decode_bucket_event(orjson.dumps(raw))


# --- our own messages -------------------------------------------------------------------

MESSAGES = [
    FetchRequested(RID, f"{RID}.0.1", "https://img.example.com/ä b.jpg?w=1&h=2", 80),
    FetchRequested(RID, f"{RID}.0.2", "https://img.example.com/b.png", 35, "avif", 1748942065087),
    ImageFailed(RID, f"{RID}.3.0", "HTTP 404 Not Found"),
    RequestFailed(RID, "Missing column: 'Product Name' (or 'product')."),
]


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: type(m).__name__)
def test_round_trip(message: FetchRequested | ImageFailed | RequestFailed) -> None:
    assert type(message).decode(message.encode()) == message


def test_fetch_requested_wire_shape() -> None:
    message = FetchRequested(RID, f"{RID}.0.1", "https://img.example.com/a.jpg", 80)
    assert orjson.loads(message.encode()) == {
        "schema_version": SCHEMA_VERSION,
        "type": "FetchRequested",
        "request_id": RID,
        "image_id": f"{RID}.0.1",
        "url": "https://img.example.com/a.jpg",
        "quality": 80,
        "format": "jpeg",
        "published_at": 0,
        "level": "",
        "effort": "balanced",
        "max_bytes": 0,
        "max_width": 0,
        "max_height": 0,
        "widths": "",
        "metadata": "none",
        "animation": "first",
        "tenant": "",
        "looked_up": False,
        "source": "",
        "result": "",
    }


def test_fetch_requested_without_the_newer_fields_gets_their_defaults() -> None:
    # A message from an ingest that predates output formats and timestamps.
    body = orjson.dumps(
        {
            "schema_version": SCHEMA_VERSION,
            "type": "FetchRequested",
            "request_id": RID,
            "image_id": f"{RID}.0.1",
            "url": "https://img.example.com/a.jpg",
            "quality": 80,
        }
    )
    message = FetchRequested.decode(body)
    assert (message.format, message.published_at) == ("jpeg", 0)
    assert (message.level, message.effort, message.max_bytes) == ("", "balanced", 0)


@pytest.mark.parametrize(
    ("field", "value"), [("level", "ultra"), ("effort", "turbo"), ("format", "png")]
)
def test_fetch_requested_choices_are_checked(field: str, value: str) -> None:
    message = FetchRequested(RID, f"{RID}.0.1", "https://a.example/x.jpg", 80)
    body = orjson.loads(message.encode())
    with pytest.raises(PermanentError, match=field):
        FetchRequested.decode(orjson.dumps({**body, field: value}))


def test_fetch_requested_optional_fields_are_type_checked() -> None:
    message = FetchRequested(RID, f"{RID}.0.1", "https://a.example/x.jpg", 80, "webp", 1)
    body = message.encode().replace(b'"published_at":1', b'"published_at":"1"')
    with pytest.raises(PermanentError, match="published_at"):
        FetchRequested.decode(body)


def test_image_failed_wire_shape() -> None:
    assert orjson.loads(ImageFailed(RID, f"{RID}.3.0", "timeout").encode()) == {
        "schema_version": SCHEMA_VERSION,
        "type": "ImageFailed",
        "request_id": RID,
        "image_id": f"{RID}.3.0",
        "reason": "timeout",
    }


def test_request_failed_wire_shape() -> None:
    assert orjson.loads(RequestFailed(RID, "empty").encode()) == {
        "schema_version": SCHEMA_VERSION,
        "type": "RequestFailed",
        "request_id": RID,
        "reason": "empty",
    }


def test_decode_ignores_key_order() -> None:
    body = b'{"reason": "r", "image_id": "i", "type": "ImageFailed", "schema_version": 1, '
    body += b'"request_id": "q"}'
    assert ImageFailed.decode(body) == ImageFailed("q", "i", "r")


@pytest.mark.parametrize("version", [0, 2, "1", None])
def test_unknown_schema_version_is_permanent(version: object) -> None:
    body = orjson.dumps(
        {"schema_version": version, "type": "RequestFailed", "request_id": RID, "reason": "r"}
    )
    with pytest.raises(PermanentError, match="RequestFailed: unsupported schema_version"):
        RequestFailed.decode(body)


def test_missing_schema_version_is_permanent() -> None:
    with pytest.raises(PermanentError, match="not a RequestFailed message"):
        RequestFailed.decode(orjson.dumps({"request_id": RID, "reason": "r"}))


def test_missing_field_is_permanent() -> None:
    body = orjson.dumps({"schema_version": 1, "request_id": RID, "image_id": "i", "url": "u"})
    with pytest.raises(PermanentError, match="not a FetchRequested message"):
        FetchRequested.decode(body)


def test_unknown_field_is_ignored() -> None:
    """A producer may add an optional field before its consumers are upgraded."""
    body = orjson.dumps(
        {"schema_version": 1, "type": "RequestFailed", "request_id": RID, "reason": "r", "x": 1}
    )
    assert RequestFailed.decode(body) == RequestFailed(RID, "r")


def test_another_message_type_is_permanent() -> None:
    body = ImageFailed(RID, f"{RID}.0.0", "r").encode()
    with pytest.raises(PermanentError, match="not a RequestFailed message"):
        RequestFailed.decode(body)


@pytest.mark.parametrize("body", [b"", b"not json", b"[]", b'"text"', b"null", b"42"])
def test_malformed_message_is_permanent(body: bytes) -> None:
    with pytest.raises(PermanentError, match="not a ImageFailed message"):
        ImageFailed.decode(body)


def test_messages_are_frozen() -> None:
    message = RequestFailed(RID, "r")
    with pytest.raises(FrozenInstanceError):
        message.reason = "other"  # type: ignore[misc]


def test_encoded_bucket_event_decodes_to_the_same_object() -> None:
    obj = ObjectCreated(
        event_name="s3:ObjectCreated:Put",
        bucket="original-images",
        key=f"{RID}/0-1 café+x.jpg",
        size=1234,
        etag="9e107d9d372bb6826bd81d3542a419d6",
        content_type="image/jpeg",
        metadata={"request-id": RID, "image-id": f"{RID}.0.1", "quality": "50"},
    )
    assert decode_bucket_event(encode_bucket_event(obj)) == [obj]
    stamped = replace(obj, event_time_ms=1748942067512)
    assert b'"eventTime":"2025-06-03T09:14:27.512Z"' in encode_bucket_event(stamped)
    assert decode_bucket_event(encode_bucket_event(stamped)) == [stamped]


def test_a_fetch_carries_what_ingest_found_stored_for_its_url() -> None:
    from datetime import UTC, datetime

    from shared.records import ImageRecord, RequestRecord, ResultRecord, SourceRecord
    from shared.status import ImageStatus, RequestStatus

    at = datetime(2026, 12, 3, tzinfo=UTC)
    source = SourceRecord(
        id="s",
        tenant="acme",
        etag='"1"',
        original_key="r/0-0.jpg",
        content_type="image/jpeg",
        extension="jpg",
        sha256="ab" * 32,
        bytes=5,
        stored_at=at,
    )
    result = ResultRecord(
        id="x",
        tenant="acme",
        source_sha256="ab" * 32,
        source_bytes=5,
        compressed_key="r/0-0.jpg",
        format="jpeg",
        quality=50,
        width=1,
        height=1,
        stored_at=at,
    )
    request = RequestRecord(id=RID, tenant="acme", status=RequestStatus.PROCESSING, created_at=at)
    image = ImageRecord(
        id=f"{RID}.0.1",
        request_id=RID,
        row=0,
        slot=1,
        url="https://a.example/x.jpg",
        status=ImageStatus.PENDING,
    )
    plain = FetchRequested.of(request, image)
    assert (plain.looked_up, plain.known_source(), plain.known_result()) == (False, None, None)
    known = FetchRequested.of(request, image, source, result, looked_up=True)
    sent = FetchRequested.decode(known.encode())
    assert (sent.looked_up, sent.known_source(), sent.known_result()) == (True, source, result)
    nothing = FetchRequested.decode(FetchRequested.of(request, image, looked_up=True).encode())
    assert (nothing.looked_up, nothing.known_source(), nothing.known_result()) == (True, None, None)
    assert (sent.tenant, sent.url, sent.image_id) == ("acme", image.url, image.id)
    with pytest.raises(PermanentError):
        replace(plain, result='{"id": 1}').known_result()


def test_a_batch_round_trips_with_every_field_of_its_fetches() -> None:
    from datetime import UTC, datetime

    from shared.records import SourceRecord

    source = SourceRecord(
        id="s",
        tenant="acme",
        etag='"1"',
        original_key="r/0-1.png",
        content_type="image/png",
        extension="png",
        stored_at=datetime(2026, 12, 7, tzinfo=UTC),
    )
    fetches = (
        FetchRequested(RID, f"{RID}.0.0", "https://a.example/x.jpg", 80, "webp", 7, "high"),
        FetchRequested(RID, f"{RID}.0.1", "https://a.example/y.png", 35, tenant="acme"),
    )
    batch = FetchBatch(
        (
            fetches[0],
            replace(fetches[1], looked_up=True, source=msgspec.json.encode(source).decode()),
        )
    )
    assert FetchBatch.decode(batch.encode()) == batch
    retried = FetchBatch(fetches, ("HTTP 503", "timed out"))
    assert FetchBatch.decode(retried.encode()).reasons() == [
        (fetches[0], "HTTP 503"),
        (fetches[1], "timed out"),
    ]
    assert FetchBatch(fetches).reasons() == [(fetches[0], ""), (fetches[1], "")]


def test_a_lone_fetch_sent_before_batches_is_a_batch_of_one() -> None:
    fetch = FetchRequested(RID, f"{RID}.0.0", "https://a.example/x.jpg", 80)
    assert FetchBatch.decode(fetch.encode()) == FetchBatch((fetch,))


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"fetches": "x"}, "must be a list of fetches"),
        ({"fetches": [1]}, "must be a list of fetches"),
        ({"fetches": [{"request_id": RID}]}, "not a FetchRequested message"),
        ({"fetches": [], "errors": [1]}, "must be a list of strings"),
        ({"fetches": [], "errors": ["a"]}, "one reason per fetch"),
    ],
)
def test_a_malformed_batch_is_permanent(fields: dict[str, object], problem: str) -> None:
    body = orjson.dumps({"schema_version": SCHEMA_VERSION, "type": "FetchBatch", **fields})
    with pytest.raises(PermanentError, match=problem):
        FetchBatch.decode(body)


def test_fetches_are_batched_in_order() -> None:
    fetches = [FetchRequested(RID, f"{RID}.{n}.0", "u", 80) for n in range(250)]
    batches = batches_of(fetches)
    assert [len(b.fetches) for b in batches] == [FETCHES_PER_MESSAGE, FETCHES_PER_MESSAGE, 50]
    assert [f for b in batches for f in b.fetches] == fetches
    assert batches_of([]) == []


def test_a_reused_image_carries_what_it_was_made_from() -> None:
    from datetime import UTC, datetime

    from shared.records import Output, SourceRecord

    source = SourceRecord(
        id="s",
        tenant="acme",
        last_modified="Wed, 02 Dec 2026 10:00:00 GMT",
        original_key="r/0-0.jpg",
        content_type="image/jpeg",
        extension="jpg",
        sha256="ab" * 32,
        bytes=5,
        stored_at=datetime(2026, 12, 7, tzinfo=UTC),
    )
    output = Output(compressed_key="q/0-0.jpg", bytes_in=5, bytes_out=3, reused=True)
    sent = ImageReused.decode(ImageReused.of(RID, f"{RID}.0.0", output, source, "x").encode())
    assert (sent.output_record(), sent.source_record(), sent.result_id) == (output, source, "x")
    # One an older fetcher or compressor sent: no source, no result id.
    fields = {"type": "ImageReused", "schema_version": SCHEMA_VERSION, "output": sent.output}
    older = ImageReused.decode(msgspec.json.encode({**fields, "request_id": RID, "image_id": "i"}))
    assert (older.source_record(), older.result_id) == (None, "")
