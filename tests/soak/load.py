"""The soak's load: a request every few seconds over the whole run, alternately to each gateway
replica. An upload that fails (its gateway was just killed, say) is sent again to the next
gateway with the same Idempotency-Key and the same fields, so a retry of an upload that was
accepted after all is answered with the same request, never made a second one.
"""

import asyncio
import time
import uuid
from dataclasses import dataclass, field

import aiohttp

from deploy.local.stack import Stack
from tests.faults.servers import Origin, WebhookReceiver
from tests.faults.workload import Workload, good
from tests.integration.client import own_settings, upload

GIVE_UP_S = 120.0  # an upload still refused by every gateway after this fails the run
RETRY_AFTER_S = 0.5


@dataclass(frozen=True)
class Submitted:
    request_id: str
    workload: Workload
    gateway: int  # the replica (1, 2, …) that accepted it
    attempts: int
    replayed: bool  # a retry was answered with the request an earlier attempt had made
    errors: tuple[str, ...]  # what the failed attempts met


def sizes(images: int, requests: int) -> list[int]:
    """`images` split as evenly as can be over `requests`."""
    return [images // requests + (n < images % requests) for n in range(requests)]


@dataclass
class Load:
    http: aiohttp.ClientSession  # authenticated with the run's API key
    stack: Stack
    origin: Origin
    hooks: WebhookReceiver
    submitted: list[Submitted] = field(default_factory=list)

    async def run(self, plan: list[int], every_s: float, started: float) -> None:
        """Submit request n (of plan[n] images) at `started` + n × `every_s`."""
        for n, images in enumerate(plan):
            await asyncio.sleep(max(0.0, started + n * every_s - time.monotonic()))
            workload = good(self.origin, f"soak{n}", images)
            self.submitted.append(await self.submit(workload, first=n))

    async def submit(self, workload: Workload, first: int) -> Submitted:
        """Upload to gateway `first` (modulo their number), then the next, until accepted."""
        gateways = self.stack.config.ports.gateways
        key = uuid.uuid4().hex
        fields = {"quality": "60", "webhook_url": self.hooks.url(workload.tag), **own_settings()}
        errors: list[str] = []
        deadline = time.monotonic() + GIVE_UP_S
        for attempt in range(1, 10_000):
            n = (first + attempt - 1) % len(gateways)
            try:
                answer = await self._attempt(workload, gateways[n], key, fields)
            except (aiohttp.ClientError, TimeoutError) as exc:
                answer = repr(exc)
            if isinstance(answer, tuple):
                request_id, replayed = answer
                return Submitted(request_id, workload, n + 1, attempt, replayed, tuple(errors))
            errors.append(f"gateway {n + 1}: {answer}"[:200])
            assert time.monotonic() < deadline, f"{workload.tag} never accepted: {errors}"
            await asyncio.sleep(RETRY_AFTER_S)
        raise AssertionError("unreachable")

    async def _attempt(
        self, workload: Workload, port: int, key: str, fields: dict[str, str]
    ) -> tuple[str, bool] | str:
        """(request id, replayed) if accepted; what a 5xx said; fails on any other answer."""
        response = await upload(
            self.http,
            self.stack,
            workload.csv,
            {"Idempotency-Key": key},
            f"http://127.0.0.1:{port}",
            **fields,
        )
        async with response:
            if response.status >= 500:
                return f"{response.status}: {await response.text()}"
            assert response.status == 202, f"{response.status}: {await response.text()}"
            body = await response.json()
            return str(body["request_id"]), response.headers.get("Idempotent-Replayed") == "true"
