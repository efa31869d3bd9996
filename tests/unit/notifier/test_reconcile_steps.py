"""What the reconciler re-issues for an unfinished image, judged from the objects that exist."""

import pytest

from notifier.reconcile import Step, next_step

RID = "0123456789abcdef0123456789abcdef"
IMAGE = f"{RID}.1.2"


@pytest.mark.parametrize(
    ("originals", "compressed", "expected"),
    [
        ((), (), (Step.FETCH, None)),
        ((f"{RID}/1-2.png",), (), (Step.ANNOUNCE_ORIGINAL, f"{RID}/1-2.png")),
        ((f"{RID}/1-2.png",), (f"{RID}/1-2.jpg",), (Step.ANNOUNCE_COMPRESSED, f"{RID}/1-2.jpg")),
        ((), (f"{RID}/1-2.jpg",), (Step.ANNOUNCE_COMPRESSED, f"{RID}/1-2.jpg")),
        # Neighbours with a longer slot or row number are other images.
        ((f"{RID}/1-20.jpg", f"{RID}/11-2.jpg"), (f"{RID}/1-21.jpg",), (Step.FETCH, None)),
    ],
)
def test_next_step(
    originals: tuple[str, ...], compressed: tuple[str, ...], expected: tuple[Step, str | None]
) -> None:
    assert next_step(IMAGE, originals, compressed) == expected
