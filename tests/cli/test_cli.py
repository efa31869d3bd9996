"""`imgpipe` as a person runs it: the installed console script, a real stack, exit codes."""

import csv
import io
import json
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from deploy.local.stack import Stack
from tests.cli.conftest import Cli, Held, image_url, write_csv

pytestmark = pytest.mark.cli

Run = subprocess.CompletedProcess[str]
REQUEST_ID = re.compile(r"^[0-9a-f]{32}$")


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cli")


@pytest.fixture(scope="module")
def completed(cli: Cli, stack: Stack, held: Held, folder: Path) -> Run:
    """`submit --wait` of a CSV whose three images all exist, with a webhook."""
    two = ", ".join(image_url(stack, n) for n in ("cat_chelsea_451x300.jpg", "camera_gray_512.jpg"))
    path = write_csv(
        folder / "products.csv",
        [["1", "Chelsea", two], ["2", "Astronaut", image_url(stack, "astronaut_alpha_512.png")]],
    )
    return cli("submit", str(path), "--quality", "60", "--webhook", held.url("hook"), "--wait")


@pytest.fixture(scope="module")
def with_errors(cli: Cli, stack: Stack, folder: Path) -> Run:
    """`submit --wait` of a CSV with one image the server does not have (404)."""
    path = write_csv(
        folder / "one-missing.csv",
        [
            ["1", "Chelsea", image_url(stack, "cat_chelsea_451x300.jpg")],
            ["2", "Ghost", image_url(stack, "no-such-image.jpg")],
        ],
    )
    return cli("submit", str(path), "--wait")


# The tenant's usage, as `status` and `requests` print it (the suite's tenant has no limits).
USAGE_LINE = (
    r"^\d+ requests in progress \(no limit\), \d+ images today \(no limit\), "
    r"[\d.]+ [KMG]?i?B stored \(no limit\)$"
)


def request_id(run: Run) -> str:
    return run.stdout.strip()


def test_submit_wait_prints_the_id_and_exits_0_when_completed(completed: Run) -> None:
    assert completed.returncode == 0, completed.stderr
    assert REQUEST_ID.match(completed.stdout.strip()), "stdout is the request id alone"
    assert "completed: 3 of 3 images (0 failed)" in completed.stderr  # progress, no terminal
    assert re.search(r"^status\s+completed$", completed.stderr, re.M)
    assert re.search(r"^images\s+3 in all, 3 done, 0 failed$", completed.stderr, re.M)
    assert re.search(
        r"^file\s+products\.csv \(jpeg, quality 60, effort balanced\)$", completed.stderr, re.M
    )


def test_submit_wait_exits_1_when_an_image_failed(with_errors: Run, stack: Stack) -> None:
    assert with_errors.returncode == 1, with_errors.stderr
    assert re.search(r"^status\s+completed_with_errors$", with_errors.stderr, re.M)
    assert "images    2 in all, 1 done, 1 failed" in with_errors.stderr
    failure = f"S. No. 2 (Ghost): {image_url(stack, 'no-such-image.jpg')}\n    HTTP 404"
    assert failure in with_errors.stderr


def test_status_summarises_and_its_exit_code_is_the_outcome(
    cli: Cli, completed: Run, with_errors: Run, held: Held
) -> None:
    ok = cli("status", request_id(completed))
    assert ok.returncode == 0, ok.stderr
    assert re.search(r"^size\s+[\d.]+ KiB → [\d.]+ KiB \(\d+ % saved\)$", ok.stdout, re.M)
    assert re.search(USAGE_LINE.replace("^", "^usage +"), ok.stdout, re.M)
    assert "failed images" not in ok.stdout

    deadline = time.monotonic() + 30  # the webhook is called once the request is closed
    while "webhook   delivered (1 attempt)" not in ok.stdout and time.monotonic() < deadline:
        time.sleep(0.2)
        ok = cli("status", request_id(completed))
    assert "webhook   delivered (1 attempt)" in ok.stdout
    assert any(request_id(completed) in body.decode() for body in held.posted)

    errors = cli("status", request_id(with_errors))
    assert errors.returncode == 1
    assert "failed images:\n  S. No. 2 (Ghost): " in errors.stdout
    assert "HTTP 404" in errors.stdout


def test_status_json_is_the_whole_status_document(cli: Cli, with_errors: Run) -> None:
    run = cli("status", request_id(with_errors), "--json")
    assert run.returncode == 1
    doc: dict[str, Any] = json.loads(run.stdout)
    assert doc["request_id"] == request_id(with_errors)
    assert {k: doc["counts"][k] for k in ("total", "done", "failed")} == {
        "total": 2,
        "done": 1,
        "failed": 1,
    }
    assert [p["product"] for p in doc["products"]] == ["Chelsea", "Ghost"]
    assert "products_page" not in doc  # pages merged
    ghost = doc["products"][1]["images"][0]
    assert ghost["status"] == "failed" and "404" in ghost["error"]


def test_download_writes_the_output_csv_to_a_file_or_stdout(
    cli: Cli, with_errors: Run, tmp_path: Path
) -> None:
    out = tmp_path / "out.csv"
    saved = cli("download", request_id(with_errors), "-o", str(out))
    assert saved.returncode == 0, saved.stderr
    assert f"saved {out}" in saved.stderr
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig"))))
    assert [r["Product Name"] for r in rows] == ["Chelsea", "Ghost"]
    assert rows[0]["Output Image Urls"].startswith("http") and not rows[0]["Errors"]
    assert rows[1]["Output Image Urls"] == "" and "404" in rows[1]["Errors"]
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]  # no partial file left

    streamed = cli("download", request_id(with_errors))
    assert streamed.returncode == 0
    again = list(csv.DictReader(io.StringIO(streamed.stdout.removeprefix("\ufeff"))))
    assert [(r["Product Name"], r["Errors"]) for r in again] == [
        (r["Product Name"], r["Errors"]) for r in rows
    ]


def test_requests_lists_newest_first(cli: Cli, completed: Run, with_errors: Run) -> None:
    run = cli("requests")
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].split() == ["REQUEST", "STATUS", "IMAGES", "CREATED", "FILE"]
    ids = [line.split()[0] for line in lines[1:]]
    assert ids.index(request_id(with_errors)) < ids.index(request_id(completed))
    row = next(line for line in lines if line.startswith(request_id(with_errors)))
    assert row.split()[1:4] == ["completed_with_errors", "2/2", "(1"]
    assert row.endswith("one-missing.csv")

    one = cli("requests", "--limit", "1")
    assert len(one.stdout.splitlines()) == 2
    assert "more: imgpipe requests --before " in one.stderr
    listed = json.loads(cli("requests", "--limit", "2", "--json").stdout)
    assert [r["request_id"] for r in listed["requests"]] == ids[:2]
    assert re.search(USAGE_LINE.replace("^", "^usage: "), run.stderr, re.M)
    used = listed["usage"]  # the suite's tenant has no limits
    assert used["images_today"]["used"] >= 5 and used["bytes_stored"]["used"] > 0
    assert {q["limit"] for q in used.values()} == {None}


def test_a_retried_submit_reuses_the_request(cli: Cli, stack: Stack, folder: Path) -> None:
    path = write_csv(folder / "again.csv", [["1", "Cat", image_url(stack, "camera_gray_512.jpg")]])
    first = cli("submit", str(path))
    again = cli("submit", str(path))
    assert first.returncode == again.returncode == 0
    assert request_id(again) == request_id(first)
    assert "same file and options as an earlier submit" in again.stderr
    other = cli("submit", str(path), "--quality", "70")  # other options: another request
    assert request_id(other) != request_id(first)
    forced = cli("submit", str(path), "--idempotency-key", "once-more")
    assert request_id(forced) not in (request_id(first), request_id(other))


def test_submit_passes_sizes_metadata_and_animation(cli: Cli, stack: Stack, folder: Path) -> None:
    path = write_csv(
        folder / "sized.csv", [["1", "Cat", image_url(stack, "cat_chelsea_451x300.jpg")]]
    )
    run = cli(
        "submit", str(path), "--format", "webp", "--max-width", "200", "--widths", "100",
        "--metadata", "copyright", "--animation", "keep", "--wait",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert re.search(
        r"^file\s+sized\.csv \(webp, quality 50, effort balanced, within 200 × any px, "
        r"widths 100, metadata copyright, animations kept\)$",
        run.stderr,
        re.M,
    ), run.stderr


def test_an_unfinished_request_is_watched_with_cheap_polls(
    cli: Cli, stack: Stack, held: Held, folder: Path, tmp_path: Path
) -> None:
    path = write_csv(folder / "held.csv", [["1", "Held", held.url("cat_chelsea_451x300.jpg")]])
    with subprocess.Popen(
        cli.argv("submit", str(path), "--wait"),
        env=cli.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as watching:
        assert watching.stdout is not None
        held_id = watching.stdout.readline().strip()
        assert held.asked.wait(30), "the fetcher never asked for the held image"
        running = cli("status", held_id)
        assert running.returncode == 3
        assert re.search(r"^status\s+processing$", running.stdout, re.M)
        out = tmp_path / "early.csv"
        early = cli("download", held_id, "-o", str(out))
        assert early.returncode == 2
        assert f"imgpipe: 409 Conflict: request {held_id} is processing" in early.stderr
        assert not out.exists() and not list(tmp_path.iterdir())
        time.sleep(1.5)  # the watcher polls meanwhile: nothing changes, so 304s
        held.release.set()
        _, err = watching.communicate(timeout=60)
    assert watching.returncode == 0, err
    assert "processing: 0 of 1 images (0 failed)" in err
    polls = [
        line
        for line in (stack.logs / "gateway.log").read_text().splitlines()
        if f"/api/status/{held_id}" in line
    ]
    assert any("304" in line for line in polls), "the watcher never sent If-None-Match"


def test_a_wrong_key_exits_2_with_the_api_message(cli: Cli, completed: Run) -> None:
    run = cli("status", request_id(completed), IMGPIPE_KEY="imgp_not-a-key")
    assert run.returncode == 2
    assert run.stderr.startswith("imgpipe: 401 Unauthorized: invalid or revoked API key")
    assert run.stdout == ""


def test_an_unknown_request_exits_2(cli: Cli) -> None:
    for command in ("status", "download"):
        run = cli(command, "0" * 32)
        assert run.returncode == 2
        assert run.stderr == f"imgpipe: 404 Not Found: no request with id '{'0' * 32}'\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "Usage: imgpipe"),
        (["frobnicate"], "No such command 'frobnicate'"),
        (["submit", "no-such-file.csv"], "does not exist"),
        (["submit", "--quality", "0", "x.csv"], "quality must be from 1 to 95, got 0"),
        (["submit", "--widths", "320,320", "x.csv"], "widths: 320 is given twice"),
        (["submit", "--max-width", "0", "x.csv"], "max_width must be from 1 to 65500, got 0"),
        (["status"], "Missing argument 'REQUEST_ID'"),
        (["requests", "--limit", "0"], "0 is not in the range x>=1"),
    ],
)
def test_usage_errors_exit_2(cli: Cli, args: list[str], message: str) -> None:
    run = cli(*args)
    assert run.returncode == 2
    assert message in run.stderr + run.stdout


def test_no_key_or_no_gateway_exits_2(cli: Cli) -> None:
    run = cli("requests", IMGPIPE_KEY="")
    assert (run.returncode, run.stderr) == (
        2,
        "imgpipe: no API key: pass --key or set IMGPIPE_KEY\n",
    )
    run = cli("requests", "--url", "http://127.0.0.1:9")  # discard port: nothing listens
    assert run.returncode == 2
    assert run.stderr.startswith("imgpipe: cannot reach the gateway at 127.0.0.1:9")


def test_flags_win_over_the_environment(cli: Cli, stack: Stack) -> None:
    url = f"http://127.0.0.1:{stack.config.ports.gateway}"
    key = cli.env["IMGPIPE_KEY"]
    run = cli("requests", "--url", url, "--key", key, IMGPIPE_URL="http://127.0.0.1:9")
    assert run.returncode == 0, run.stderr
    run = cli("requests", "--key", "imgp_wrong")
    assert run.returncode == 2 and "401" in run.stderr


def test_a_terminal_gets_a_live_progress_bar(cli: Cli, stack: Stack, folder: Path) -> None:
    path = write_csv(folder / "bar.csv", [["1", "Cat", image_url(stack, "camera_gray_512.jpg")]])
    run = cli("submit", str(path), "--wait", TTY_COMPATIBLE="1")  # rich: draw as on a terminal
    assert run.returncode == 0, run.stderr
    drawn = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", run.stderr)  # colours and cursor moves
    assert re.search(r"completed +━+ 1/1 images, 0 failed", drawn)
    assert "completed: 1 of 1" not in drawn  # the bar, not the plain lines
