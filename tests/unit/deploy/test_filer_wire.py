"""The hand-written protobuf codec for SeaweedFS's SubscribeMetadata stream."""

import pytest

from deploy.local.filer_wire import Entry, decode_metadata_event, encode_subscribe_request


def varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    return bytes(out + bytes([value]))


def field(number: int, value: int | bytes | str) -> bytes:
    """One protobuf field: ints as varints, bytes/str length-delimited."""
    if isinstance(value, int):
        return varint(number << 3) + varint(value)
    raw = value.encode() if isinstance(value, str) else value
    return varint(number << 3 | 2) + varint(len(raw)) + raw


def test_subscribe_request_fields() -> None:
    request = encode_subscribe_request("relay", "/buckets/", 1_795_558_293_688_853_742, 7, 2)

    assert request == (
        field(1, "relay")
        + field(2, "/buckets/")
        + field(3, 1_795_558_293_688_853_742)
        + field(7, 7)
        + field(9, 2)
    )


def test_update_event_is_decoded() -> None:
    attributes = field(1, 6) + field(2, 1795558293) + field(7, "image/png") + field(14, b"\x01\x02")
    extended = field(5, field(1, "X-Amz-Meta-Request-Id") + field(2, b"r2"))
    new_entry = field(1, "a.png") + field(4, attributes) + extended
    old_entry = field(1, "a.png") + field(4, field(1, 5))
    fixed32_cookie = bytes([7 << 3 | 5]) + b"\x00\x00\x00\x01"  # an unknown fixed32 field
    notification = field(1, old_entry) + field(2, new_entry) + field(4, "/buckets/b")
    response = field(1, "/buckets/b") + field(2, notification + fixed32_cookie) + field(3, 42)

    event = decode_metadata_event(response)

    assert (event.directory, event.ts_ns, event.new_parent_path) == ("/buckets/b", 42, "/buckets/b")
    assert event.old_entry == Entry("a.png", file_size=5)
    assert event.new_entry == Entry(
        "a.png",
        file_size=6,
        mime="image/png",
        md5=b"\x01\x02",
        extended={"X-Amz-Meta-Request-Id": b"r2"},
    )


def test_directory_create_and_empty_keepalive() -> None:
    directory = field(1, "/buckets") + field(2, field(2, field(1, "b") + field(2, 1))) + field(3, 9)

    assert decode_metadata_event(directory).new_entry == Entry("b", is_directory=True)
    assert decode_metadata_event(field(3, 10)).new_entry is None


def test_truncated_message_is_an_error() -> None:
    with pytest.raises(ValueError, match="truncated"):
        decode_metadata_event(field(1, "/buckets/b")[:-2])
