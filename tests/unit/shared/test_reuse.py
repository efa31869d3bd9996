"""shared/reuse.py without servers: what makes two outputs the same one, and when a stored
one may stand for a new image."""

from datetime import UTC, datetime, timedelta

import msgspec.structs
import pytest

from shared.events import FetchRequested
from shared.metadata import OriginalMeta
from shared.names import output_key_of, variant_key
from shared.records import ResultRecord
from shared.reuse import result_id, reusable, source_digest

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


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"level": "medium", "format": "webp", "effort": "max"},
        {"max_bytes": 5000, "max_width": 300, "widths": "100,200"},
        {"metadata": "keep", "animation": "keep", "format": "avif"},
    ],
)
def test_the_fetcher_and_the_compressor_name_one_result_alike(options: dict[str, object]) -> None:
    """The fetcher looks a result up from its message after a 304; the compressor stored it
    under the id it read from the original's metadata: both must make the same id."""
    message = FetchRequested("r", "r.0.0", "http://x/a.jpg", 50, tenant="acme", **options)  # type: ignore[arg-type]
    at_fetch = OriginalMeta.of_fetch(message, True, {})
    stored = OriginalMeta.parse(at_fetch.to_metadata(), "r/0-0.jpg")
    digest = source_digest(b"bytes")
    assert result_id("acme", digest, at_fetch, WHITE) == result_id("acme", digest, stored, WHITE)


NOW = datetime(2026, 12, 3, tzinfo=UTC)


def result(made_days_ago: float, source: bytes = b"bytes") -> ResultRecord:
    return ResultRecord(
        id="x",
        tenant="acme",
        source_sha256=source_digest(source),
        source_bytes=len(source),
        compressed_key="r/0-0.jpg",
        format="jpeg",
        quality=50,
        width=10,
        height=10,
        stored_at=NOW - timedelta(days=made_days_ago),
    )


def test_a_result_stands_only_for_the_same_bytes() -> None:
    digest = source_digest(b"bytes")
    assert reusable(result(1), digest, 5, NOW, 0)
    assert not reusable(result(1, b"other"), digest, 5, NOW, 0)  # another hash
    assert not reusable(result(1), digest, 6, NOW, 0)  # the same hash claimed for other bytes


def test_with_retention_only_a_result_younger_than_half_of_it_is_reused() -> None:
    """Its link is the first request's object, which expires when that one does: reused
    while young, a new request's links last at least half the days."""
    digest = source_digest(b"bytes")
    assert reusable(result(4.9), digest, 5, NOW, 10)
    assert not reusable(result(5.1), digest, 5, NOW, 10)
    assert reusable(result(5000), digest, 5, NOW, 0)  # 0 days: kept forever


def test_a_variant_key_leads_back_to_its_output() -> None:
    assert output_key_of(variant_key("r/3-1.webp", 640)) == "r/3-1.webp"
    assert output_key_of("r/3-1.webp") == "r/3-1.webp"
