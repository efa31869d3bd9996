"""Request status rules: which moves are allowed and how a finished request ends."""

import itertools

import pytest

from shared.status import (
    FINAL_STATUSES,
    FINISHED_STATUSES,
    ImageStatus,
    RequestStatus,
    can_move,
    final_status,
)

S = RequestStatus

# Every (current, new) pair that may happen; anything else is refused.
ALLOWED = {
    (S.PENDING, S.PROCESSING),
    (S.PENDING, S.FAILED),  # the CSV is unreadable: no image was ever listed
    (S.PROCESSING, S.COMPLETED),
    (S.PROCESSING, S.COMPLETED_WITH_ERRORS),
    (S.PROCESSING, S.FAILED),
}
ALL_PAIRS = list(itertools.product(RequestStatus, repeat=2))


@pytest.mark.parametrize(
    ("current", "new"), ALL_PAIRS, ids=[f"{a.value}->{b.value}" for a, b in ALL_PAIRS]
)
def test_can_move(current: RequestStatus, new: RequestStatus) -> None:
    assert can_move(current, new) is ((current, new) in ALLOWED)


def test_table_covers_every_pair() -> None:
    assert len(ALL_PAIRS) == 36


@pytest.mark.parametrize("final", sorted(FINAL_STATUSES))
def test_final_statuses_never_change(final: RequestStatus) -> None:
    assert not any(can_move(final, new) for new in RequestStatus)


def test_final_statuses() -> None:
    assert {S.COMPLETED, S.COMPLETED_WITH_ERRORS, S.FAILED} == FINISHED_STATUSES
    assert FINISHED_STATUSES | {S.EXPIRED} == FINAL_STATUSES


def test_can_move_accepts_plain_strings_from_the_database() -> None:
    assert can_move("pending", "processing")  # type: ignore[arg-type]
    assert not can_move("completed", "processing")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("total", "done", "failed", "expected"),
    [
        pytest.param(3, 0, 0, None, id="none-finished"),
        pytest.param(3, 2, 0, None, id="some-done"),
        pytest.param(3, 1, 1, None, id="some-done-some-failed"),
        pytest.param(3, 3, 0, S.COMPLETED, id="all-done"),
        pytest.param(3, 2, 1, S.COMPLETED_WITH_ERRORS, id="some-failed"),
        # Documented choice: each image carries its reason; FAILED is for unreadable requests.
        pytest.param(3, 0, 3, S.COMPLETED_WITH_ERRORS, id="all-failed"),
        pytest.param(1, 1, 0, S.COMPLETED, id="single-done"),
        pytest.param(1, 0, 1, S.COMPLETED_WITH_ERRORS, id="single-failed"),
    ],
)
def test_final_status(total: int, done: int, failed: int, expected: RequestStatus | None) -> None:
    assert final_status(total, done, failed) == expected


def test_final_status_is_never_failed() -> None:
    outcomes = {final_status(4, done, 4 - done) for done in range(5)}
    assert outcomes == {S.COMPLETED, S.COMPLETED_WITH_ERRORS}


def test_status_values_are_the_stored_strings() -> None:
    assert [s.value for s in RequestStatus] == [
        "pending",
        "processing",
        "completed",
        "completed_with_errors",
        "failed",
        "expired",
    ]
    assert [s.value for s in ImageStatus] == ["pending", "done", "failed"]
    assert RequestStatus.COMPLETED == "completed"  # StrEnum: compares equal to stored text
