"""Documents ↔ records (shared/records.py): msgspec checks each field on the way in."""

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import msgspec

from shared.records import Record

Document = dict[str, Any]
R = TypeVar("R", bound=Record)
T = TypeVar("T")

# Values one `$in` query asks for. SecantusDB (the local and CI stand-in) compares each
# candidate with every value of the list, so a list of n costs n² (500 ids: 0.56 s, five
# queries of 100: 0.10 s); MongoDB does not care either way.
IN_QUERY_VALUES = 100


def in_batches(values: Sequence[T]) -> Iterator[Sequence[T]]:
    """`values` in slices small enough for one `$in` query each."""
    for first in range(0, len(values), IN_QUERY_VALUES):
        yield values[first : first + IN_QUERY_VALUES]


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
