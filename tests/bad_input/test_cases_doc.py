"""CASES.md lists every case with its answer, as the tables in cases.py say."""

import pytest

from tests.bad_input import cases

pytestmark = pytest.mark.bad_input


def test_cases_md_is_current() -> None:
    assert cases.DOC.read_text() == cases.render(), (
        "tests/bad_input/CASES.md is stale: run `python -m tests.bad_input.cases`"
    )


def test_at_least_40_distinct_cases() -> None:
    ids = [
        c.id
        for group in (
            cases.REFUSED,
            cases.ACCEPTED,
            cases.URLS,
            cases.IMAGES,
            cases.UNMET,
            cases.DROPPED,
            cases.AUTH,
            cases.BAD_LIMITS,
            cases.OVER_QUOTA,
            cases.RERUNS,
            cases.STREAMED,
            cases.CUT_SHORT,
        )
        for c in group
    ]
    assert len(ids) == len(set(ids)) == cases.count() >= 40
