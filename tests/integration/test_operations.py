"""What operators see: health, readiness, Prometheus metrics, JSON logs to follow a request."""

import json

import aiohttp
import pytest

from deploy.local.stack import Stack
from tests.integration.client import base, image_url, make_csv, own_settings, upload, wait_final

pytestmark = pytest.mark.integration


async def test_health_and_readiness(stack: Stack, anonymous: aiohttp.ClientSession) -> None:
    async with anonymous.get(f"{base(stack)}/healthz") as response:
        assert response.status == 200
    async with anonymous.get(f"{base(stack)}/readyz") as response:
        assert response.status == 200
        assert await response.json() == {"ready": True, "failing": {}}


async def test_metrics_and_logs_follow_a_request(
    stack: Stack, http: aiohttp.ClientSession, anonymous: aiohttp.ClientSession
) -> None:
    csv = make_csv([["1", "Watched", image_url(stack, "cat_chelsea_451x300.jpg")]])
    request_id = (await (await upload(http, stack, csv, **own_settings())).json())["request_id"]
    await wait_final(http, stack, request_id)

    async with anonymous.get(f"{base(stack)}/metrics") as response:
        gateway = await response.text()
    assert 'imgpipe_http_requests_total{method="POST",route="upload",status="202"}' in gateway
    port = stack.config.ports.metrics["compressor"]
    async with anonymous.get(f"http://127.0.0.1:{port}/metrics") as response:
        compressor = await response.text()
    assert 'imgpipe_messages_total{outcome="ok",queue="compressor.original-stored"}' in compressor
    assert "imgpipe_handling_seconds_bucket" in compressor

    # Every function's log has JSON lines naming the request.
    for name in ("ingest", "fetcher", "compressor", "notifier"):
        lines = (stack.logs / f"{name}.log").read_text().splitlines()
        mine = [json.loads(line) for line in lines if request_id in line]
        assert mine, f"{name} logged nothing about {request_id}"
        assert all(entry["request_id"] == request_id for entry in mine)
        assert {entry["service"] for entry in mine} == {name}
