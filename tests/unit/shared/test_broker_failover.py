"""Several AMQP_URL addresses: each connection attempt goes to the first that answers."""

import asyncio
import logging
from collections.abc import Callable

import aio_pika
import pytest
from yarl import URL

from shared.broker import FailoverConnection, first_answering

NODES = ("amqp://u:node-pw@rabbit-1/", "amqp://u:node-pw@rabbit-2/", "amqp://u:node-pw@rabbit-3/")


async def test_the_first_address_that_answers_is_used() -> None:
    tried: list[str] = []

    async def attempt(url: URL) -> str:
        tried.append(url.host or "")
        if url.host == "rabbit-1":
            raise ConnectionRefusedError("refused")
        return f"connected to {url.host}"

    assert await first_answering(NODES, attempt) == "connected to rabbit-2"
    assert tried == ["rabbit-1", "rabbit-2"]  # rabbit-3 not tried once rabbit-2 answered


async def test_the_last_failure_is_raised_when_none_answers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def attempt(url: URL) -> None:
        raise ConnectionRefusedError(f"{url.host} refused")

    with pytest.raises(ConnectionRefusedError, match="rabbit-3 refused"):
        await first_answering(NODES, attempt)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 3
    assert all("node-pw" not in line for line in warnings)  # passwords are masked


async def test_other_errors_are_not_taken_for_a_dead_node() -> None:
    async def attempt(url: URL) -> None:
        raise ValueError("a bug, not an outage")

    with pytest.raises(ValueError):
        await first_answering(NODES, attempt)


def test_aio_pikas_attempt_hook_still_exists() -> None:
    # FailoverConnection overrides this private method of RobustConnection; an aio-pika that
    # renamed it would silently connect to the first address only.
    assert "_RobustConnection__connect_transport" in vars(aio_pika.RobustConnection)
    assert "_RobustConnection__connect_transport" in vars(FailoverConnection)


async def test_a_robust_connection_tries_every_address_in_turn() -> None:
    """Three listeners that hang up at once (as a node that is not up): each is tried, in
    order, and the connection fails fast with the last one's error."""
    order: list[int] = []

    def hang_up_as(n: int) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], None]:
        def hang_up(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            order.append(n)
            writer.close()

        return hang_up

    servers = [await asyncio.start_server(hang_up_as(n), "127.0.0.1", 0) for n in range(3)]
    ports = [server.sockets[0].getsockname()[1] for server in servers]
    connection = FailoverConnection([f"amqp://guest:guest@127.0.0.1:{p}/" for p in ports])
    try:
        with pytest.raises(Exception):  # noqa: B017 - whatever aiormq makes of a hang-up
            await asyncio.wait_for(connection.connect(), 10)
    finally:
        await connection.close()
        for server in servers:
            server.close()
            await server.wait_closed()
    assert order == [0, 1, 2]
