"""What a burst of finished images adds to its request's counts (shared/db/requests.py)."""

from shared.db.requests import Tally
from shared.records import Output


def output(**fields: bool) -> Output:
    return Output(compressed_key="r/0-0.jpg", bytes_in=1000, bytes_out=300, **fields)


def test_each_outcome_counts_what_it_stored() -> None:
    tally = Tally()
    tally.add(output())  # downloaded and compressed: original and output are new
    tally.add(output(revalidated=True))  # 304, compressed from the stored original
    tally.add(output(reused=True))  # downloaded, an earlier output of the same bytes
    tally.add(None)  # failed
    for _ in range(3):  # unchanged (304, its earlier output): nothing new
        tally.add(output(revalidated=True, reused=True))
    assert tally.increments() == {
        "done": 6,
        "failed": 1,
        "revalidated": 4,
        "reused": 4,
        "bytes_stored": (1000 + 300) + 300 + 1000,
    }


def test_nothing_finished_increments_nothing() -> None:
    tally = Tally()
    assert tally.increments() == {}
