"""Fault injection on the real local stack: every image compressed or failed with a reason,
exactly once, whatever crashes; every request finishes and fires its webhook once."""

import signal

import pytest

from deploy.local.stack import Stack
from tests.faults.queues import Duplicator
from tests.faults.scenario import Result, Scenarios, fanning_out

pytestmark = [pytest.mark.faults, pytest.mark.timeout(300)]


def assert_held(result: Result) -> None:
    assert result.passed, f"{result.fault}:\n" + "\n".join(result.outcome.problems)


async def test_no_fault_baseline(scenarios: Scenarios) -> None:
    assert_held(await scenarios.run("none (baseline)", None))


@pytest.mark.parametrize("name", ["fetcher", "compressor", "notifier", "gateway"])
async def test_kill_function_mid_job(scenarios: Scenarios, stack: Stack, name: str) -> None:
    assert_held(await scenarios.run(f"kill -9 {name}", lambda: stack.restart(name)))


async def test_kill_ingest_during_fan_out(scenarios: Scenarios, stack: Stack) -> None:
    result = await scenarios.run("kill -9 ingest", lambda: stack.restart("ingest"), at=fanning_out)
    assert_held(result)


async def test_restart_rabbitmq(scenarios: Scenarios, stack: Stack) -> None:
    assert_held(await scenarios.run("restart RabbitMQ", stack.restart_broker))


async def test_restart_relay(scenarios: Scenarios, stack: Stack) -> None:
    assert_held(await scenarios.run("restart relay (kill -9)", lambda: stack.restart("relay")))


async def test_restart_secantusdb(scenarios: Scenarios, stack: Stack) -> None:
    restart = lambda: stack.restart("secantusdb", signal.SIGTERM)  # noqa: E731
    assert_held(await scenarios.run("restart SecantusDB", restart))


async def test_every_bucket_event_twice(scenarios: Scenarios, stack: Stack) -> None:
    duplicator = Duplicator(stack.config.amqp_url)
    result = await scenarios.run("every bucket event twice", None, during=duplicator.running())
    result.notes.append(f"{duplicator.copied} events published a second time")
    assert_held(result)
    assert duplicator.copied > result.outcome.images_in  # the CSV, originals and compressed


async def test_webhook_answers_500_three_times(scenarios: Scenarios) -> None:
    result = await scenarios.run("webhook 500 ×3", None, webhook_failures=3)
    attempts = scenarios.probe.hooks.for_request(result.request_id)
    delivered = [a.at for a in attempts if a.answered == 200]
    if attempts and delivered:
        recovery = delivered[0] - attempts[0].at
        result.notes.append(f"{len(attempts)} attempts; first 500 → 200 in {recovery:.1f} s")
    assert_held(result)
    assert [a.answered for a in attempts][:4] == [500, 500, 500, 200]
