"""What a handler raises decides what happens to its message.

- returns normally      → ack;
- raises PermanentError → reject without requeue: the message goes to its dead-letter queue
  (retrying cannot help: malformed message, unknown request);
- raises anything else  → try again later: a transient fault (network, store, database) may
  pass. Retries back off through delay queues (shared/retry.py); when they are used up the
  function's give-up hook runs (e.g. the image is recorded as failed) and the message is
  dead-lettered with its reason. RetryLater asks for a minimum delay (Retry-After);
  RetryPart retries only the part of a message that failed.

Per-image problems (404, not an image) are not message errors: they are recorded as a failed
image and the message is acked.
"""


class PermanentError(Exception):
    """Retrying this message cannot succeed."""


class RetryLater(Exception):
    """Try this message again later (after at least `delay` seconds, if given)."""

    def __init__(self, reason: str, delay: float | None = None) -> None:
        super().__init__(reason)
        self.delay = delay


class RetryPart(RetryLater):
    """Part of a message's work failed: try again later with `body`, a message of just that
    part (a batch's failed items), not the whole message."""

    def __init__(self, reason: str, body: bytes, delay: float | None = None) -> None:
        super().__init__(reason, delay)
        self.body = body


class NotYet(RetryLater):
    """Not a failure: another worker holds this job for now. Try again later without using up
    an attempt (the holder either finishes or its claim goes stale)."""


class ImageError(Exception):
    """This image cannot be processed; the reason is recorded and shown to the user."""
