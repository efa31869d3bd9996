"""The object sweep's bounded scan, with an in-memory bucket and a fixed clock."""

from datetime import UTC, datetime, timedelta

import pytest

from notifier import sweep
from notifier.sweep import Sweeper
from shared.storage import StoredObject

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


class Bucket:
    """What the sweep uses of ObjectStore, over one bucket's objects."""

    def __init__(self, ages_days: dict[str, float]) -> None:
        self.objects = {key: NOW - timedelta(days=age) for key, age in ages_days.items()}
        self.listed: list[str] = []

    async def listing(self, bucket: str, after: str, limit: int) -> list[StoredObject]:
        self.listed.append(after)
        keys = sorted(key for key in self.objects if key > after)[:limit]
        return [StoredObject(key, self.objects[key]) for key in keys]

    async def remove(self, bucket: str, keys: list[str]) -> None:
        for key in keys:
            del self.objects[key]


async def test_objects_older_than_the_days_go_and_younger_ones_stay() -> None:
    bucket = Bucket({"a/0-0.jpg": 3, "b/0-0.jpg": 0.5, "c/0-0.jpg": 1.5})
    more = await Sweeper().objects(bucket, "compressed-images", 1, NOW)  # type: ignore[arg-type]
    assert more is False
    assert sorted(bucket.objects) == ["b/0-0.jpg"]


async def test_zero_days_lists_nothing() -> None:
    bucket = Bucket({"a/0-0.jpg": 10_000})
    assert await Sweeper().objects(bucket, "compressed-images", 0, NOW) is False  # type: ignore[arg-type]
    assert bucket.listed == [] and list(bucket.objects) == ["a/0-0.jpg"]


async def test_a_big_bucket_is_scanned_a_page_per_pass_then_from_the_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sweep, "OBJECTS_PER_PASS", 2)
    bucket = Bucket({f"{n}/0-0.jpg": 5 if n % 2 else 0 for n in range(5)})
    sweeper = Sweeper()
    passes = []
    while await sweeper.objects(bucket, "original-images", 1, NOW):  # type: ignore[arg-type]
        passes.append(sorted(bucket.objects))
    assert bucket.listed == ["", "1/0-0.jpg", "3/0-0.jpg"]  # each pass goes on from the last
    assert len(passes) == 2
    assert sorted(bucket.objects) == ["0/0-0.jpg", "2/0-0.jpg", "4/0-0.jpg"]
    await sweeper.objects(bucket, "original-images", 1, NOW)  # type: ignore[arg-type]
    assert bucket.listed[-1] == ""  # the scan starts over once it reached the end
