"""Documents ↔ records (shared/records.py): msgspec checks each field on the way in."""

from datetime import UTC, datetime
from typing import Any, TypeVar

import msgspec

from shared.records import Record

Document = dict[str, Any]
R = TypeVar("R", bound=Record)


def now() -> datetime:
    return datetime.now(UTC)


def record(doc: Document, kind: type[R]) -> R:
    """The document as a record; fields it does not know (older or newer code's) are ignored."""
    return msgspec.convert(doc, kind)


def maybe(doc: Document | None, kind: type[R]) -> R | None:
    return None if doc is None else record(doc, kind)


def document(rec: Record) -> Document:
    """The record as a document: datetimes stay BSON dates; fields at their default are left out."""
    doc: Document = msgspec.to_builtins(rec, builtin_types=(datetime,))
    return doc
