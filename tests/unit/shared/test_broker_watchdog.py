"""A function exits (non-zero) when the broker stays away past the grace period."""

import asyncio
from typing import Any, cast

import pytest

from shared.broker import BrokerLost, run_until_stopped


class Connection:
    """Just the `connected` flag of aio-pika's robust connection."""

    def __init__(self) -> None:
        self.connected = asyncio.Event()


async def test_a_long_outage_raises() -> None:
    connection = Connection()  # never connected
    with pytest.raises(BrokerLost, match="unreachable for more than 0 s"):
        await asyncio.wait_for(
            run_until_stopped(cast(Any, connection), asyncio.Event(), grace_s=0.1), 5
        )


async def test_a_short_outage_is_ridden_out() -> None:
    connection = Connection()
    connection.connected.set()
    stop = asyncio.Event()
    task = asyncio.create_task(run_until_stopped(cast(Any, connection), stop, grace_s=2.5))
    await asyncio.sleep(1.2)
    connection.connected.clear()  # the broker restarts…
    await asyncio.sleep(1.2)
    connection.connected.set()  # …and is back within the grace period
    await asyncio.sleep(2.2)
    assert not task.done()
    stop.set()
    await asyncio.wait_for(task, 2)  # and it ends cleanly when asked to stop
