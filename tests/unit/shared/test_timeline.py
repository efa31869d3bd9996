"""The moments an image's journey records, and the hops status derives from them."""

import pytest

from shared.timeline import (
    HOPS,
    IMAGE_MOMENTS,
    from_metadata,
    hops,
    iso,
    parse_event_time,
    to_metadata,
)

T0 = 1748942065087  # 2025-06-03T09:14:25.087Z


def test_metadata_round_trip_keeps_the_order_of_the_journey() -> None:
    moments = {name: T0 + n for n, name in enumerate(IMAGE_MOMENTS)}
    carried = to_metadata(dict(reversed(moments.items())))
    assert carried["t-fetch-started"] == str(T0 + 1)  # S3 metadata names use dashes
    assert list(from_metadata(carried).items()) == list(moments.items())


@pytest.mark.parametrize("raw", ["", "-5", "12.5", "soon", " 12"])
def test_malformed_metadata_is_dropped(raw: str) -> None:
    assert from_metadata({"t-fetched": raw, "t-published": "7"}) == {"published": 7}


def test_unknown_metadata_is_ignored() -> None:
    assert from_metadata({"request-id": "x", "t-made-up": "5"}) == {}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2025-06-03T09:14:25.087Z", T0),
        ("2025-06-03T09:14:25.087+00:00", T0),
        ("2025-06-03T11:14:25.087+02:00", T0),
        ("2025-06-03T09:14:25.087", T0),  # no zone: UTC, as MinIO means it
        ("2025-06-03T09:14:25Z", T0 - 87),
        ("", None),
        (None, None),
        (1748942065, None),
        ("yesterday", None),
    ],
)
def test_parse_event_time(raw: object, expected: int | None) -> None:
    assert parse_event_time(raw) == expected


def test_iso_has_milliseconds_in_utc() -> None:
    assert iso(T0) == "2025-06-03T09:14:25.087+00:00"


def test_hops_between_known_moments_only() -> None:
    moments = {
        "published": T0,
        "fetch_started": T0 + 3,
        "fetched": T0 + 40,
        # original_stored unknown (a re-announced event carries no time)
        "compress_started": T0 + 50,
        "compressed": T0 + 90,
    }
    assert hops(moments) == {"to_fetcher": 3, "downloading": 37, "compressing": 40}


def test_every_hop_joins_two_moments_in_journey_order() -> None:
    for start, end in HOPS.values():
        assert IMAGE_MOMENTS.index(start) < IMAGE_MOMENTS.index(end)
