"""`python -m ingest.keys limit`: its help, and the bad limits it refuses before touching the
database (no servers: the refusals come before any query)."""

import asyncio

import pytest

from ingest import keys
from shared.records import TenantRecord

HELP = """\
usage: python -m ingest.keys limit [-h] [--concurrent N] [--images-per-day N] [--bytes-stored N]
                                   tenant

positional arguments:
  tenant

options:
  -h, --help          show this help message and exit
  --concurrent N      requests pending or processing at once; more uploads answer 429 (0: no
                      limit)
  --images-per-day N  images in the requests created in one UTC day; an upload beyond it answers
                      429 until midnight UTC (0: no limit)
  --bytes-stored N    bytes of originals, compressed copies and variants kept; at or over it
                      uploads answer 429 until requests are deleted or expire (0: no limit)
"""


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "100")  # argparse wraps help to the terminal's width
    monkeypatch.setenv("MONGO_URL", "mongodb://127.0.0.1:9/?serverSelectionTimeoutMS=100")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        asyncio.run(keys.main(list(argv)))
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


def test_limit_help_is_exact(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "limit", "--help") == (0, HELP, "")


USAGE = HELP.split("\n\n")[0] + "\n"


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (
            ["acme", "--concurrent", "-1"],
            "argument --concurrent: must be 0 (no limit) or more, got -1",
        ),
        (
            ["acme", "--images-per-day", "ten"],
            "argument --images-per-day: not a whole number: 'ten'",
        ),
        (
            ["acme", "--bytes-stored", "1.5e9"],
            "argument --bytes-stored: not a whole number: '1.5e9'",
        ),
        (["acme", "--bytes-stored", ""], "argument --bytes-stored: not a whole number: ''"),
        (["acme", "--images-per-day"], "argument --images-per-day: expected one argument"),
        (["acme"], "give at least one of --concurrent, --images-per-day, --bytes-stored"),
        (["Acme Corp", "--concurrent", "2"], "tenant 'Acme Corp': use "),
    ],
)
def test_bad_limits_are_refused(
    capsys: pytest.CaptureFixture[str], argv: list[str], error: str
) -> None:
    code, out, err = run(capsys, "limit", *argv)
    assert (code, out) == (2, "")
    assert err.startswith(USAGE)
    assert err.removeprefix(USAGE).startswith(f"python -m ingest.keys limit: error: {error}")


def test_the_changed_limits_are_printed_with_the_others() -> None:
    limits = TenantRecord(id="acme", max_concurrent=3, max_bytes_stored=10**9)
    assert keys.limits_line(limits) == (
        "acme: max_concurrent=3 max_images_per_day=none max_bytes_stored=1000000000"
    )
