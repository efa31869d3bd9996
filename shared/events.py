"""Message bodies on the wire, as frozen dataclasses with one encode/decode pair each.

Two kinds of message travel through RabbitMQ:
- bucket events, written by the object store in MinIO's format
  (https://min.io/docs/minio/linux/administration/monitoring/bucket-notifications.html), which
  follows the S3 event message structure
  (https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html);
- our own messages (FetchBatch, ImageFailed, …), versioned by `schema_version`.

Handlers only ever see these classes; wire quirks are fixed here, once.
"""

from collections.abc import Mapping, Sequence
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any, Literal, Self, TypeVar, get_args, get_origin
from urllib.parse import quote_plus, unquote_plus

import msgspec
import orjson

from shared import timeline
from shared.errors import PermanentError
from shared.records import ImageRecord, Output, RequestRecord, ResultRecord, SourceRecord
from shared.rules import QUALITY, Animation, Effort, Format, MetadataMode, level_of

SCHEMA_VERSION = 1
R = TypeVar("R", SourceRecord, ResultRecord, Output)
_USER_META_PREFIX = "x-amz-meta-"


@dataclass(frozen=True)
class ObjectCreated:
    """One object written to a bucket (one record of a MinIO bucket event)."""

    event_name: str
    bucket: str
    key: str
    size: int
    etag: str
    content_type: str
    # User metadata with the `X-Amz-Meta-` prefix removed and names lower-cased.
    metadata: Mapping[str, str] = field(default_factory=dict)
    # When the object store wrote the object (`eventTime`, epoch ms), if the event says.
    event_time_ms: int | None = None

    @property
    def dedupe_key(self) -> str:
        """Same object version ⇒ same key: duplicates of one event share it."""
        return f"{self.bucket}/{self.key}#{self.etag}"


def decode_bucket_event(body: bytes) -> list[ObjectCreated]:
    """Decode a MinIO event message into its object-created records (others are skipped)."""
    try:
        message = orjson.loads(body)
        records = message["Records"]
        return [
            _decode_record(r) for r in records if r["eventName"].startswith("s3:ObjectCreated:")
        ]
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError, ValueError) as exc:
        raise PermanentError(f"not a MinIO bucket event: {exc!r}") from exc


def _decode_record(record: Mapping[str, Any]) -> ObjectCreated:
    s3_object = record["s3"]["object"]
    return ObjectCreated(
        event_name=record["eventName"],
        bucket=record["s3"]["bucket"]["name"],
        # MinIO escapes keys like a query string (space → "+"): undo that once, here.
        key=unquote_plus(s3_object["key"]),
        size=int(s3_object.get("size", 0)),
        etag=str(s3_object.get("eTag", "")).strip('"'),
        content_type=str(s3_object.get("contentType", "")),
        metadata=user_metadata(s3_object.get("userMetadata") or {}),
        event_time_ms=timeline.parse_event_time(record.get("eventTime")),
    )


def encode_bucket_event(obj: ObjectCreated) -> bytes:
    """A MinIO-format event for an object (the reconciler re-announces objects with it)."""
    record = {
        "eventVersion": "2.0",
        "eventSource": "minio:s3",
        "eventName": obj.event_name,
        "s3": {
            "s3SchemaVersion": "1.0",
            "bucket": {"name": obj.bucket, "arn": f"arn:aws:s3:::{obj.bucket}"},
            "object": {
                "key": quote_plus(obj.key),
                "size": obj.size,
                "eTag": obj.etag,
                "contentType": obj.content_type,
                "userMetadata": {f"X-Amz-Meta-{k}": v for k, v in obj.metadata.items()},
            },
        },
    }
    if obj.event_time_ms is not None:
        record["eventTime"] = timeline.iso(obj.event_time_ms).replace("+00:00", "Z")
    body = {"EventName": obj.event_name, "Key": f"{obj.bucket}/{obj.key}", "Records": [record]}
    return orjson.dumps(body)


def user_metadata(raw: Mapping[str, str]) -> dict[str, str]:
    """Keep the `X-Amz-Meta-*` entries, keyed by their lower-cased name without the prefix."""
    return {
        name[len(_USER_META_PREFIX) :].lower(): value
        for name, value in raw.items()
        if name.lower().startswith(_USER_META_PREFIX)
    }


class _Message:
    """Encode/decode for our own JSON messages: the dataclass fields, `type`, `schema_version`.

    Decoding ignores fields it does not know, so a producer may add an optional field before
    every consumer is upgraded, and fills fields with a default when a message lacks them, so
    a consumer may learn a new optional field before every producer sends it; a breaking
    change bumps SCHEMA_VERSION instead.
    """

    def encode(self) -> bytes:
        header = {"schema_version": SCHEMA_VERSION, "type": type(self).__name__}
        return orjson.dumps({**header, **asdict(self)})  # type: ignore[call-overload]

    @classmethod
    def decode(cls, body: bytes) -> Self:
        return cls.from_fields(_envelope(body, cls.__name__))

    @classmethod
    def from_fields(cls, data: Mapping[str, Any]) -> Self:
        """The message of these field values, each checked; a missing one takes its default."""
        try:
            values = {
                f.name: data[f.name] if f.name in data or f.default is MISSING else f.default
                for f in fields(cls)  # type: ignore[arg-type]
            }
        except (KeyError, TypeError) as exc:
            raise PermanentError(f"not a {cls.__name__} message: {exc!r}") from exc
        for f in fields(cls):  # type: ignore[arg-type]
            if not _of_type(values[f.name], f.type):
                raise PermanentError(f"{cls.__name__}.{f.name} must be of type {f.type}")
        return cls(**values)


def _envelope(body: bytes, *types: str) -> dict[str, Any]:
    """A message's JSON object, checked to be one of `types` in our schema version."""
    try:
        data = orjson.loads(body)
        kind = data.get("type")
    except (orjson.JSONDecodeError, AttributeError) as exc:
        raise PermanentError(f"not a {types[0]} message: {exc!r}") from exc
    if kind not in types:
        raise PermanentError(f"not a {types[0]} message: type {kind!r}")
    version = data.get("schema_version")
    if type(version) is not int or version != SCHEMA_VERSION:  # True == 1: check type
        raise PermanentError(f"{kind}: unsupported schema_version {version!r}")
    return data  # type: ignore[no-any-return]


def _of_type(value: object, expected: object) -> bool:
    """Exactly of the field's type (a bool is no int here), or one of a Literal's values."""
    if get_origin(expected) is Literal:
        return type(value) is str and value in get_args(expected)
    return type(value) is expected


@dataclass(frozen=True)
class FetchRequested(_Message):
    """Ingest asks the fetcher to download one image URL."""

    request_id: str
    image_id: str
    url: str
    quality: int
    format: Format = "jpeg"  # the output format
    published_at: int = 0  # epoch ms when ingest sent it; 0 = unknown (shared/timeline.py)
    # quality=auto:<level> ("": the fixed `quality`; with a level, `quality` is the default
    # number, which a consumer that predates levels would use).
    level: Literal["", "high", "medium", "low"] = ""
    effort: Effort = "balanced"
    max_bytes: int = 0  # a ceiling on the output's size; 0: none
    max_width: int = 0  # 0: no bound (shared/records.py Sizes)
    max_height: int = 0
    widths: str = ""  # "320,640" (as the form gives them): JSON has no tuple to check
    metadata: MetadataMode = "none"
    animation: Animation = "first"
    tenant: str = ""  # whose validators and originals the fetcher may reuse ("": none)
    # What ingest found the tenant stored for this URL (shared/reuse.py), looked up for a whole
    # window of fetches at once: the source's and its output's records as JSON ("": none).
    # Without `looked_up` (a fetch the reconciler re-issues) the fetcher looks them up itself.
    looked_up: bool = False
    source: str = ""
    result: str = ""

    def known_source(self) -> SourceRecord | None:
        return _record(self.source, SourceRecord)

    def known_result(self) -> ResultRecord | None:
        return _record(self.result, ResultRecord)

    @classmethod
    def of(
        cls,
        request: RequestRecord,
        image: ImageRecord,
        source: SourceRecord | None = None,
        result: ResultRecord | None = None,
        *,
        looked_up: bool = False,
    ) -> "FetchRequested":
        """The fetch of one of the request's images, published now (by ingest or the
        reconciler); it goes to fetch_routing_key(request.fetch_lane). `looked_up`: ingest
        looked for what the tenant stored for its URL, and found `source` and `result`."""

        def text(found: SourceRecord | ResultRecord | None) -> str:
            return msgspec.json.encode(found).decode() if found is not None else ""

        level = level_of(request.quality)
        return cls(
            request.id,
            image.id,
            image.url,
            request.quality if isinstance(request.quality, int) else QUALITY.default,
            request.format,
            timeline.now_ms(),
            level=level or "",
            effort=request.effort,
            max_bytes=request.max_bytes or 0,
            max_width=request.sizes.max_width or 0,
            max_height=request.sizes.max_height or 0,
            widths=request.sizes.widths_text(),
            metadata=request.metadata,
            animation=request.animation,
            tenant=request.tenant,
            looked_up=looked_up,
            source=text(source),
            result=text(result),
        )


def _record(text: str, kind: type[R]) -> R | None:
    try:
        return msgspec.json.decode(text, type=kind) if text else None
    except msgspec.ValidationError as exc:
        raise PermanentError(f"bad {kind.__name__} in a message: {exc}") from None


# Fetches per message: one broker message per image would cost RabbitMQ and ingest more CPU
# than the rest of a big CSV's fan-out together (issue 13); a batch is also the most one
# redelivery after a fetcher crash asks again.
FETCHES_PER_MESSAGE = 100


@dataclass(frozen=True)
class FetchBatch:
    """Fetches of one request's images in one message (ingest and the reconciler send them).

    A batch retried holds only the fetches that failed, each with why (`errors`, in order;
    empty in a batch as first sent).
    """

    fetches: tuple[FetchRequested, ...]
    errors: tuple[str, ...] = ()

    def encode(self) -> bytes:
        header = {"schema_version": SCHEMA_VERSION, "type": type(self).__name__}
        # orjson writes dataclasses itself, in C: asdict per fetch would cost more than it.
        return orjson.dumps({**header, "fetches": self.fetches, "errors": self.errors})

    @classmethod
    def decode(cls, body: bytes) -> "FetchBatch":
        """A batch; a lone FetchRequested (sent before batches were) is a batch of one."""
        data = _envelope(body, cls.__name__, FetchRequested.__name__)
        if data["type"] == FetchRequested.__name__:
            return cls((FetchRequested.from_fields(data),))
        fetches, errors = data.get("fetches"), data.get("errors", [])
        if not isinstance(fetches, list) or not all(isinstance(f, dict) for f in fetches):
            raise PermanentError("FetchBatch.fetches must be a list of fetches")
        if not isinstance(errors, list) or not all(isinstance(e, str) for e in errors):
            raise PermanentError("FetchBatch.errors must be a list of strings")
        if errors and len(errors) != len(fetches):
            raise PermanentError("FetchBatch.errors must have one reason per fetch")
        return cls(tuple(map(FetchRequested.from_fields, fetches)), tuple(errors))

    def reasons(self) -> list[tuple[FetchRequested, str]]:
        """Each fetch with why it failed last ("" where the batch does not say)."""
        return [(f, self.errors[n] if self.errors else "") for n, f in enumerate(self.fetches)]


def batches_of(fetches: Sequence[FetchRequested]) -> list[FetchBatch]:
    """The fetches in order, FETCHES_PER_MESSAGE to a message."""
    step = FETCHES_PER_MESSAGE
    return [FetchBatch(tuple(fetches[n : n + step])) for n in range(0, len(fetches), step)]


@dataclass(frozen=True)
class ImageFailed(_Message):
    """An image could not be fetched or compressed; `reason` is shown to the user."""

    request_id: str
    image_id: str
    reason: str


@dataclass(frozen=True)
class ImageReused(_Message):
    """An image's output is one stored before (shared/reuse.py): the notifier records it as
    done, as it does on a compressed copy's bucket event. `output` is the Output record's JSON
    (a record checks its own fields; messages here carry flat values only); `source` the
    SourceRecord's the image was made from ("": none) and `result_id` its output's, recorded
    with it for the tenant's later requests (shared/db/sources.py, results.py)."""

    request_id: str
    image_id: str
    output: str
    source: str = ""
    result_id: str = ""

    @classmethod
    def of(
        cls,
        request_id: str,
        image_id: str,
        output: Output,
        source: SourceRecord | None = None,
        result_id: str = "",
    ) -> "ImageReused":
        made_from = "" if source is None else msgspec.json.encode(source).decode()
        return cls(request_id, image_id, msgspec.json.encode(output).decode(), made_from, result_id)

    def output_record(self) -> Output:
        output = _record(self.output, Output)
        if output is None:
            raise PermanentError("ImageReused without an output")
        return output

    def source_record(self) -> SourceRecord | None:
        return _record(self.source, SourceRecord)


@dataclass(frozen=True)
class RequestFailed(_Message):
    """A whole request cannot be processed (e.g. its CSV is unreadable); `reason` is shown."""

    request_id: str
    reason: str


@dataclass(frozen=True)
class WebhookDue(_Message):
    """A request reached its final status: call its webhook (until it answers 2xx)."""

    request_id: str
