"""Operational endpoints of the gateway: liveness, readiness and Prometheus metrics."""

import asyncio
import time

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared import metrics
from shared.runtime import Clients

READY_TIMEOUT_S = 2.0


async def healthz(request: Request) -> Response:
    """The process is alive (no dependency is checked)."""
    return JSONResponse({"ok": True})


async def readyz(request: Request) -> Response:
    """Broker, object store and database reachable: 200, else 503 naming what is not."""
    clients: Clients = request.state.clients
    checks = {
        "broker": _broker(clients),
        "object_store": clients.store.ping(),
        "database": clients.db.ping(),
    }
    results = await asyncio.gather(
        *(asyncio.wait_for(check, READY_TIMEOUT_S) for check in checks.values()),
        return_exceptions=True,
    )
    failing = {
        name: str(result) or type(result).__name__
        for name, result in zip(checks, results, strict=True)
        if isinstance(result, BaseException)
    }
    # Still being waited for since start-up (shared/runtime.py): say why, not just "timeout".
    failing.update(
        {name: f"waiting since start-up: {why}" for name, why in clients.waiting.reasons.items()}
    )
    body = {"ready": not failing, "failing": failing}
    return JSONResponse(body, status_code=503 if failing else 200)


async def _broker(clients: Clients) -> None:
    if not clients.connection.connected.is_set():
        raise ConnectionError("not connected to RabbitMQ")


async def metrics_endpoint(request: Request) -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


class MetricsMiddleware:
    """Counts requests and times them, labelled by the endpoint's name (not the raw path)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            endpoint = scope.get("endpoint")
            route = getattr(endpoint, "__name__", "unmatched")
            method = scope["method"]
            metrics.HTTP_REQUESTS.labels(method, route, str(status)).inc()
            metrics.HTTP_LATENCY.labels(method, route).observe(time.perf_counter() - started)
