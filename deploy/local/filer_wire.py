"""SeaweedFS filer `SubscribeMetadata`: the few protobuf fields the relay needs, hand-decoded.

Field numbers follow SeaweedFS's weed/pb/filer.proto (see docs: local-stack.md). A generated
module for two messages would be larger than this codec; unknown fields are skipped, as any
protobuf reader does, so newer filers that add fields keep working.
"""

from collections.abc import Iterator
from dataclasses import dataclass, field

SUBSCRIBE_METADATA = "/filer_pb.SeaweedFiler/SubscribeMetadata"

_VARINT, _FIXED64, _LENGTH, _FIXED32 = 0, 1, 2, 5


@dataclass(frozen=True)
class Entry:
    """A filer entry (`filer_pb.Entry` with its `FuseAttributes` flattened in)."""

    name: str
    is_directory: bool = False
    file_size: int = 0
    mime: str = ""
    md5: bytes = b""
    extended: dict[str, bytes] = field(default_factory=dict)


@dataclass(frozen=True)
class MetadataEvent:
    """One `SubscribeMetadataResponse`: a create has only new_entry, a delete only old_entry."""

    directory: str
    ts_ns: int
    old_entry: Entry | None = None
    new_entry: Entry | None = None
    new_parent_path: str = ""


def encode_subscribe_request(
    client_name: str, path_prefix: str, since_ns: int, client_id: int, client_epoch: int
) -> bytes:
    """Serialize a `SubscribeMetadataRequest` (client_id and client_epoch must be non-zero)."""
    return b"".join(
        (
            _string(1, client_name),
            _string(2, path_prefix),
            _tag(3, _VARINT) + _varint(since_ns),
            _tag(7, _VARINT) + _varint(client_id),
            _tag(9, _VARINT) + _varint(client_epoch),
        )
    )


def decode_metadata_event(data: bytes) -> MetadataEvent:
    """Parse a `SubscribeMetadataResponse`."""
    directory, ts_ns = "", 0
    old_entry = new_entry = None
    new_parent_path = ""
    for number, value in _fields(data):
        if number == 1 and isinstance(value, bytes):
            directory = value.decode()
        elif number == 3 and isinstance(value, int):
            ts_ns = value
        elif number == 2 and isinstance(value, bytes):  # EventNotification
            for inner, item in _fields(value):
                if inner == 1 and isinstance(item, bytes):
                    old_entry = _entry(item)
                elif inner == 2 and isinstance(item, bytes):
                    new_entry = _entry(item)
                elif inner == 4 and isinstance(item, bytes):
                    new_parent_path = item.decode()
    return MetadataEvent(directory, ts_ns, old_entry, new_entry, new_parent_path)


def _entry(data: bytes) -> Entry:
    name, is_directory, file_size, mime, md5 = "", False, 0, "", b""
    extended: dict[str, bytes] = {}
    for number, value in _fields(data):
        if number == 1 and isinstance(value, bytes):
            name = value.decode()
        elif number == 2 and isinstance(value, int):
            is_directory = bool(value)
        elif number == 4 and isinstance(value, bytes):  # FuseAttributes
            for inner, item in _fields(value):
                if inner == 1 and isinstance(item, int):
                    file_size = item
                elif inner == 7 and isinstance(item, bytes):
                    mime = item.decode()
                elif inner == 14 and isinstance(item, bytes):
                    md5 = item
        elif number == 5 and isinstance(value, bytes):  # one map<string, bytes> pair
            pair = {k: v for k, v in _fields(value) if isinstance(v, bytes)}
            extended[pair.get(1, b"").decode()] = pair.get(2, b"")
    return Entry(name, is_directory, file_size, mime, md5, extended)


def _fields(data: bytes) -> Iterator[tuple[int, int | bytes]]:
    """Yield (field number, value): varints as int, length-delimited as bytes; skip fixed."""
    pos = 0
    while pos < len(data):
        key, pos = _read_varint(data, pos)
        number, wire_type = key >> 3, key & 7
        if wire_type == _VARINT:
            value, pos = _read_varint(data, pos)
            yield number, value
        elif wire_type == _LENGTH:
            size, pos = _read_varint(data, pos)
            if pos + size > len(data):
                raise ValueError("truncated protobuf field")
            yield number, data[pos : pos + size]
            pos += size
        elif wire_type in (_FIXED64, _FIXED32):
            pos += 8 if wire_type == _FIXED64 else 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire_type}")


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated protobuf varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _varint(value: int) -> bytes:
    if value < 0:
        value += 1 << 64  # protobuf's two's complement for negative int32/int64
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _tag(number: int, wire_type: int) -> bytes:
    return _varint(number << 3 | wire_type)


def _string(number: int, text: str) -> bytes:
    raw = text.encode()
    return _tag(number, _LENGTH) + _varint(len(raw)) + raw
