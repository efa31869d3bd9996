"""When to try a message again (pure): exponential backoff through a few fixed delay queues.

A message that failed transiently is republished to the delay queue of its level, where the
functions hold it until it is due and then send it back through the retry exchange to the
queue it came from (shared/delays.py). Fixed levels keep the number of queues small; a wait
just under the level's delay adds jitter, so a burst of failures does not come back as one
burst.
"""

import random
from collections.abc import Sequence

# Delays before the 2nd, 3rd, … attempt; after the last one the message is given up.
DEFAULT_DELAYS_S = (1.0, 5.0, 30.0, 120.0)
JITTER = 0.2  # a retry waits between (1 - JITTER) and 1 times its level's delay


# "wait", not "delay": the earlier `imgpipe.delay.*` queues had a message TTL and dead-lettering,
# and RabbitMQ refuses to redeclare a queue with other arguments, so new functions could not
# start on a broker that has them (deploy/README.md, Changing the topology).
DELAY_QUEUE_PREFIX = "imgpipe.wait."


def delay_queue(delay_s: float) -> str:
    """Name of the delay queue (and of its fanout exchange) for one level."""
    return f"{DELAY_QUEUE_PREFIX}{round(delay_s * 1000)}ms"


def next_delay(attempt: int, delays: Sequence[float], wanted: float | None = None) -> float | None:
    """The level to wait in before attempt `attempt + 1`, or None when retries are used up.

    `wanted` (e.g. from a Retry-After header) picks the smallest level that waits at least as
    long, never less than the backoff schedule's own level for this attempt.
    """
    if attempt > len(delays):
        return None
    level = delays[attempt - 1]
    if wanted is not None:
        level = max(level, next((d for d in sorted(delays) if d >= wanted), max(delays)))
    return level


def wait_ms(level_s: float, rng: random.Random | None = None) -> int:
    """How long one message waits inside a level: jittered down, never above the level."""
    factor = 1 - JITTER * (rng or random).random()
    return max(1, int(level_s * 1000 * factor))
