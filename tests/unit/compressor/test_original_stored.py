"""What the compressor reads from an original's bucket event (original_of: OriginalMeta)."""

from collections.abc import Callable
from dataclasses import replace

import pytest

from compressor.handler import original_of
from shared.errors import PermanentError
from shared.events import ObjectCreated, decode_bucket_event
from shared.metadata import OriginalMeta
from shared.names import ORIGINALS_BUCKET

RID = "e6ffb05b235749b081bb556eda014c40"


def original(event_time_ms: int | None = None, **metadata: str) -> ObjectCreated:
    return ObjectCreated(
        event_name="s3:ObjectCreated:Put",
        bucket=ORIGINALS_BUCKET,
        key=f"{RID}/0-1.jpg",
        size=59366,
        etag="98111df294415ff3bd236e9b2b31e091",
        content_type="image/jpeg",
        metadata={"request-id": RID, "image-id": f"{RID}.0.1", "quality": "80", **metadata},
        event_time_ms=event_time_ms,
    )


def test_recorded_minio_event(event_body: Callable[[str], bytes]) -> None:
    (event,) = decode_bucket_event(event_body("minio-put-original.json"))
    assert original_of(event) == OriginalMeta(
        request_id=RID,
        image_id=f"{RID}.0.1",
        quality=80,
        format="jpeg",  # originals from before output formats: JPEG
        moments={"original_stored": 1748942067512},
    )


def test_format_and_the_fetchers_moments_are_carried_on() -> None:
    event = original(500, format="avif", **{"t-published": "100", "t-fetched": "400"})
    stored = original_of(event)
    assert stored.format == "avif"
    assert stored.moments == {"published": 100, "fetched": 400, "original_stored": 500}


def test_without_an_event_time_the_stored_moment_is_unknown() -> None:
    assert "original_stored" not in original_of(original(None)).moments


@pytest.mark.parametrize(
    "metadata",
    [
        {"request-id": RID, "image-id": f"{RID}.0.1", "quality": "80", "format": "png"},
        {"request-id": RID, "image-id": f"{RID}.0.1", "quality": "high"},
        {"request-id": RID, "quality": "80"},
        {},
    ],
    ids=["unknown-format", "bad-quality", "no-image-id", "none"],
)
def test_bad_metadata_is_permanent(metadata: dict[str, str]) -> None:
    event = replace(original(), metadata=metadata)
    with pytest.raises(PermanentError, match=f"^{RID}/0-1.jpg: "):
        original_of(event)
