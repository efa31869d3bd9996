"""compressor/reuse.py without servers: what makes two outputs the same one."""

import msgspec.structs

from compressor.reuse import result_id, source_digest
from shared.metadata import OriginalMeta

WHITE = (255, 255, 255)


def original(**fields: object) -> OriginalMeta:
    base: dict[str, object] = {"request_id": "r", "image_id": "r.0.0", "quality": 50}
    return msgspec.structs.replace(OriginalMeta(**base), **fields)  # type: ignore[arg-type]


def test_the_same_source_and_settings_are_one_result_whatever_the_request() -> None:
    a = result_id("acme", source_digest(b"bytes"), original(), WHITE)
    b = result_id(
        "acme", source_digest(b"bytes"), original(request_id="other", image_id="other.3.1"), WHITE
    )
    assert a == b and len(a) == 32


def test_another_tenant_source_or_setting_is_another_result() -> None:
    same = result_id("acme", source_digest(b"bytes"), original(), WHITE)
    others = [
        result_id("globex", source_digest(b"bytes"), original(), WHITE),
        result_id("acme", source_digest(b"bytez"), original(), WHITE),
        result_id("acme", source_digest(b"bytes"), original(quality=51), WHITE),
        result_id("acme", source_digest(b"bytes"), original(level="medium"), WHITE),
        result_id("acme", source_digest(b"bytes"), original(format="webp"), WHITE),
        result_id("acme", source_digest(b"bytes"), original(effort="max"), WHITE),
        result_id("acme", source_digest(b"bytes"), original(max_bytes=1000), WHITE),
        result_id("acme", source_digest(b"bytes"), original(max_width=100), WHITE),
        result_id("acme", source_digest(b"bytes"), original(widths="100"), WHITE),
        result_id("acme", source_digest(b"bytes"), original(metadata="keep"), WHITE),
        result_id("acme", source_digest(b"bytes"), original(animation="keep"), WHITE),
        result_id("acme", source_digest(b"bytes"), original(), (0, 0, 0)),
    ]
    assert same not in others and len(set(others)) == len(others)
