"""Structured logs: one JSON object per line, carrying the request id and object key.

A handler calls `bind(request_id=…, key=…)` once it knows them; every line it logs afterwards
(in the same message's task) carries them, so one request is followed across every function
with `grep <request_id>`.
"""

import contextvars
import logging
import sys
from datetime import UTC, datetime
from typing import Any

import orjson

_context: contextvars.ContextVar[dict[str, Any]] = contextvars.ContextVar("log_context")


def bind(**fields: Any) -> None:
    """Add fields to every later log line of the current task (copy on write: tasks differ)."""
    _context.set({**_context.get({}), **{k: v for k, v in fields.items() if v is not None}})


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self._service,
            "logger": record.name,
            "message": record.getMessage(),
            **_context.get({}),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


def configure(service: str, level: str = "INFO") -> None:
    """Log JSON lines to stderr (where compose and the local stack collect them)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    # aio-pika and aiormq narrate every reconnect attempt at INFO; keep their warnings.
    for noisy in ("aio_pika", "aiormq"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))
