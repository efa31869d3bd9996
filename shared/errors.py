"""What a handler raises decides what happens to its message.

- returns normally      → ack;
- raises PermanentError → reject without requeue: the message goes to its dead-letter queue
  (retrying cannot help: malformed message, unknown request);
- raises anything else  → requeue: a transient fault (network, store, database) may pass.
  The queue's delivery limit turns an endless failure into a dead letter.

Per-image problems (404, not an image) are not message errors: they are recorded as a failed
image and the message is acked.
"""


class PermanentError(Exception):
    """Retrying this message cannot succeed."""


class ImageError(Exception):
    """This image cannot be processed; the reason is recorded and shown to the user."""
