"""`python -m <function>`: open the clients, consume the function's queues until stopped."""

import asyncio
import functools
import os
from collections.abc import Awaitable, Callable, Mapping

from shared.broker import consume, run_until_stopped
from shared.runtime import Clients, configure_logging, open_clients
from shared.settings import Settings

# A queue's handler: decodes the body at the edge, then calls the function's handle().
Route = Callable[[Clients, bytes, int], Awaitable[None]]


def run(name: str, routes: Mapping[str, Route]) -> None:
    """Entry point of a consumer function: `routes` maps each queue it reads to its handler."""
    configure_logging(name)
    settings = Settings.from_env(os.environ)

    async def main() -> None:
        async with open_clients(settings) as clients:
            for queue, route in routes.items():
                await consume(clients.channel, queue, functools.partial(route, clients))
            await run_until_stopped()

    asyncio.run(main())
