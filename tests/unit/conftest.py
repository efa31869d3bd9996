"""Shared helpers of the unit tests: recorded event payloads from sample-data/events/."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

EVENTS_DIR = Path(__file__).resolve().parents[2] / "sample-data" / "events"


def read_event_body(name: str) -> bytes:
    """The recorded message body, byte for byte, as a consumer receives it."""
    return (EVENTS_DIR / name).read_bytes()


def read_event(name: str) -> dict[str, Any]:
    """The recorded message, parsed: tweak a copy, then `orjson.dumps` it back."""
    event: dict[str, Any] = orjson.loads(read_event_body(name))
    return event


@pytest.fixture
def event_body() -> Callable[[str], bytes]:
    return read_event_body


@pytest.fixture
def event_json() -> Callable[[str], dict[str, Any]]:
    return read_event
