"""HTTP servers for test suites, on an asyncio loop in a thread of their own.

A thread of their own, so that blocking test code (pymongo, minio, stack restarts) never
stalls them into a timeout that is not the case under test.
"""

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any

from aiohttp import web


class ServerThread:
    """An asyncio loop in a daemon thread hosting aiohttp apps."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="test-servers")
        self._thread.daemon = True
        self._thread.start()
        self._runners: list[web.AppRunner] = []

    def _call(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)

    def serve(self, app: web.Application, host: str = "127.0.0.1") -> str:
        """Start `app` on a free port of `host`; returns its base URL."""

        async def start() -> str:
            runner = web.AppRunner(
                app, access_log=None, handler_cancellation=True, shutdown_timeout=1
            )
            await runner.setup()
            site = web.TCPSite(runner, host, 0)
            await site.start()
            self._runners.append(runner)
            port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            return f"http://{host}:{port}"

        base: str = self._call(start())
        return base

    def close(self) -> None:
        async def stop() -> None:
            for runner in self._runners:
                await runner.cleanup()
            await asyncio.sleep(0.1)  # closed transports release their sockets on a later turn

        self._call(stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()
