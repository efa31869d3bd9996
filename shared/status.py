"""Request and image statuses, and the rules that move between them (pure)."""

from enum import StrEnum


class RequestStatus(StrEnum):
    PENDING = "pending"  # accepted; the CSV is not parsed yet
    PROCESSING = "processing"  # images listed and sent to be fetched
    COMPLETED = "completed"  # every image compressed
    COMPLETED_WITH_ERRORS = "completed_with_errors"  # every image finished, some failed
    FAILED = "failed"  # the request itself could not be processed (e.g. unreadable CSV)
    # Kept past RETAIN_REQUESTS_DAYS: its images and rows are gone, a tombstone remains.
    EXPIRED = "expired"


class ImageStatus(StrEnum):
    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"


# How a request's processing ends: what may later expire.
FINISHED_STATUSES = frozenset(
    {RequestStatus.COMPLETED, RequestStatus.COMPLETED_WITH_ERRORS, RequestStatus.FAILED}
)
FINAL_STATUSES = FINISHED_STATUSES | {RequestStatus.EXPIRED}

# Expiry is no move: the retention sweep replaces the whole document by a tombstone.
_ALLOWED = {
    RequestStatus.PENDING: {RequestStatus.PROCESSING, RequestStatus.FAILED},
    RequestStatus.PROCESSING: FINISHED_STATUSES,
}


def can_move(current: RequestStatus, new: RequestStatus) -> bool:
    """Whether a request may go from `current` to `new` (final statuses never change)."""
    return new in _ALLOWED.get(current, frozenset())


def final_status(total: int, done: int, failed: int) -> RequestStatus | None:
    """The status a request ends with once every image has finished; None while some have not.

    A request whose images all failed still *completed*: each image carries its own reason,
    and `failed` is kept for requests that could not be processed at all.
    """
    if done + failed < total:
        return None
    return RequestStatus.COMPLETED if failed == 0 else RequestStatus.COMPLETED_WITH_ERRORS
