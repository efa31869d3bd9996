"""Run one scenario: submit a workload, inject a fault at the right moment, wait for the
request to finish, check the invariants and record a row of the results table."""

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pymongo.errors

from tests.faults.checks import FINAL, Outcome
from tests.faults.invariants import Probe, inspect_request
from tests.faults.servers import Origin
from tests.faults.workload import Workload, build
from tests.integration.client import own_settings, upload

# Stuck: no image finished for QUIET_S while nothing can move (queues drained, or messages
# only in queues without a consumer) although the reconciler had two chances to act
# (STUCK_AFTER_S in conftest); or no image finished for STALLED_S, whatever the queues.
QUIET_S = 20.0
STALLED_S = 40.0
FINISH_WITHIN_S = 150.0
DELIVERY_WITHIN_S = 30.0  # after the request finished, for the webhook to be answered 2xx
# What the notifier's reconciler logs when it re-issues work (notifier/reconcile.py).
RECONCILER_MARKS = ("is stuck", "counts corrected", "ingest never finished", "never settled")
HEALED = ("ingest", "fetcher", "compressor", "notifier", "relay")  # restarted after a failure

Doc = dict[str, Any]
Moment = Callable[[Doc], bool]


def finished(doc: Doc) -> int:
    return int(doc.get("done", 0)) + int(doc.get("failed", 0))


def midway(doc: Doc) -> bool:
    """Some images finished, most not: the request is well under way."""
    return doc.get("status") == "processing" and finished(doc) >= doc.get("total", 0) * 0.2


def fanning_out(doc: Doc) -> bool:
    """The CSV is parsed and ingest is publishing fetch messages (or has just finished)."""
    return doc.get("status") == "processing"


@dataclass
class Result:
    fault: str
    outcome: Outcome
    request_id: str = ""
    moment: str = ""
    to_progress: float | None = None  # fault → the first image finished once it is over
    to_finish: float | None = None  # fault → the request in a final status
    started: float = 0.0  # time.monotonic() of the fault (of the upload without one)
    reissued: int = 0  # reconciler log lines about this request
    fetches: int = 0  # requests the origin served for this scenario's URLs
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.outcome.problems


@dataclass
class Scenarios:
    """What every scenario needs; `results` fills the table printed at the end."""

    probe: Probe
    origin: Origin
    http: aiohttp.ClientSession  # authenticated with the suite's API key
    results: list[Result] = field(default_factory=list)

    async def run(
        self,
        fault: str,
        inject: Callable[[], object] | None,
        *,
        at: Moment = midway,
        during: AbstractAsyncContextManager[Any] | None = None,
        webhook_failures: int = 0,
    ) -> Result:
        """Submit a fresh workload, inject the fault at `at`, wait, check; record the row."""
        tag = f"s{len(self.results)}"
        workload = build(self.origin, tag)
        self.probe.hooks.fail_first[tag] = webhook_failures
        result = Result(fault, Outcome(len(workload.images)))
        self.results.append(result)
        try:
            async with during or nullcontext():
                request_id = result.request_id = await self._submit(workload)
                await self._inject(request_id, inject, at, result)
                if during is not None and inject is None:
                    result.moment = "whole run"
                await self._wait_final(request_id, result)
                if result.to_finish is not None:
                    await self._wait_delivered(request_id)
        except BaseException as exc:  # the table must not show an aborted scenario as passed
            result.outcome.problems.append(f"scenario aborted: {exc!r}"[:500])
            raise
        result.outcome = await inspect_request(self.probe, request_id, workload)
        reconciled = self._reconciler_lines(request_id)
        result.reissued = len(reconciled)
        if any("counts corrected" in line for line in reconciled):
            result.notes.append(
                "the reconciler corrected the request's counts (an increment was lost)"
            )
        result.fetches = self.origin.served(tag)
        if not result.passed:
            await asyncio.to_thread(self._heal)
            result.notes.append("functions and relay restarted after this scenario")
        return result

    async def _inject(
        self, request_id: str, inject: Callable[[], object] | None, at: Moment, result: Result
    ) -> None:
        """Wait for the moment `at`, then inject the fault (a blocking call, in a thread)."""
        result.started = time.monotonic()
        if inject is None:
            result.moment = "—"
            return
        before = await self._wait_for_moment(request_id, at)
        result.moment = f"{finished(before)}/{before.get('total', '?')} finished"
        if at is fanning_out:
            state = "over" if before.get("fanned_out") else "in progress"
            result.notes.append(f"fan-out {state} when the fault struck")
        result.started = time.monotonic()
        await asyncio.to_thread(inject)

    async def _submit(self, workload: Workload) -> str:
        response = await upload(
            self.http,
            self.probe.stack,
            workload.csv,
            webhook_url=self.probe.hooks.url(workload.tag),
            quality="60",
            **own_settings(),  # each scenario compresses its images itself
        )
        assert response.status == 202, await response.text()
        request_id: str = (await response.json())["request_id"]
        return request_id

    async def _poll(self, request_id: str, interval: float) -> AsyncIterator[Doc]:
        find = self.probe.mongo.requests.find_one
        while True:
            try:
                doc = await asyncio.to_thread(find, {"_id": request_id})
            except pymongo.errors.PyMongoError:
                doc = None  # SecantusDB restarting: ask again
            if doc is not None:
                yield doc
            await asyncio.sleep(interval)

    async def _wait_for_moment(self, request_id: str, at: Moment) -> Doc:
        deadline = time.monotonic() + 60
        async for doc in self._poll(request_id, 0.02):
            assert doc["status"] not in FINAL, "the request finished before the fault"
            if at(doc):
                return doc
            assert time.monotonic() < deadline, f"never reached the moment: {doc['status']}"
        raise AssertionError("unreachable")

    async def _wait_final(self, request_id: str, result: Result) -> None:
        """Poll until final or stuck; time the first progress and the finish."""
        started = result.started
        at_fault = progress = -1
        moved = time.monotonic()
        async for doc in self._poll(request_id, 0.1):
            now = time.monotonic()
            if at_fault < 0:
                at_fault = progress = finished(doc)
            if finished(doc) > progress:
                progress, moved = finished(doc), now
                if result.to_progress is None:
                    result.to_progress = now - started
            if doc["status"] in FINAL:
                result.to_finish = now - started
                return
            if now - moved > STALLED_S or now - started > FINISH_WITHIN_S:
                result.notes.append(
                    f"stuck at {progress} finished: no progress for {now - moved:.0f} s"
                )
                return
            if now - moved > QUIET_S and await self.probe.broker.standing_still():
                result.notes.append(
                    f"stuck at {progress} finished: no progress for {QUIET_S:.0f} s and nothing "
                    "in flight (or only in queues without a consumer)"
                )
                return

    async def _wait_delivered(self, request_id: str) -> None:
        deadline = time.monotonic() + DELIVERY_WITHIN_S
        while time.monotonic() < deadline:
            deliveries = self.probe.hooks.for_request(request_id)
            if any(200 <= d.answered < 300 for d in deliveries):
                return
            await asyncio.sleep(0.1)

    def _reconciler_lines(self, request_id: str) -> list[str]:
        """What the notifier's reconciler logged about this request."""
        log = self.probe.stack.logs / "notifier.log"
        lines = log.read_text(errors="replace").splitlines() if log.exists() else []
        return [
            line
            for line in lines
            if request_id in line and any(mark in line for mark in RECONCILER_MARKS)
        ]

    def _heal(self) -> None:
        """Restart every consumer, so a broken stack does not fail the next scenario too."""
        for name in HEALED:
            self.probe.stack.restart(name)
