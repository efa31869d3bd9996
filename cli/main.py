"""`imgpipe`'s commands: submit a CSV, watch it finish, read its status, download the output.

It needs the gateway's URL and an API key, from --url/--key or IMGPIPE_URL/IMGPIPE_KEY. Built on
click (already installed with uvicorn) and rich (the progress bar).
"""

import asyncio
import hashlib
import os
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, BinaryIO, NoReturn, TypeVar

import aiohttp
import click
import msgspec
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from cli import format as fmt
from cli.gateway import DEFAULT_URL, ApiError, Gateway, MergedStatus, gateway
from shared.api import Accepted, RequestList, RequestView, StatusView
from shared.rules import (
    ANIMATED_FORMATS,
    ANIMATION,
    EFFORT,
    FORMAT,
    LEVELS,
    MAX_BYTES,
    MAX_HEIGHT,
    MAX_WIDTH,
    MAX_WIDTHS,
    METADATA,
    QUALITY,
    Quality,
    RuleError,
    parse_quality,
    parse_widths,
)

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])
POLL_FIRST_S, POLL_MAX_S = 0.25, 2.0  # polls back off while nothing changes (cheap 304s)


class Checked(click.ParamType[Any]):
    """A value checked by one of the service's own rules (shared/rules.py), its message kept."""

    def __init__(self, parse: Callable[[str], Any], metavar: str) -> None:
        self.parse, self.name = parse, metavar

    def get_metavar(self, param: click.Parameter, ctx: click.Context) -> str:
        return self.name

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            return self.parse(str(value))
        except RuleError as exc:
            self.fail(str(exc), param, ctx)


def idempotency_key(data: bytes, options: dict[str, str]) -> str:
    """The same file with the same options gives the same key, so a retry is not a new job."""
    digest = hashlib.sha256(data)
    for name in sorted(options):
        digest.update(f"\0{name}={options[name]}".encode())
    return f"imgpipe-cli-{digest.hexdigest()}"


def run(work: Callable[[], Coroutine[Any, Any, T]], interrupted: str = "interrupted") -> T:
    """Run one command's coroutine; on an API or network error exit 2 with the message."""
    try:
        return asyncio.run(work())
    except ApiError as exc:
        fail(str(exc))
    except aiohttp.ClientConnectorError as exc:
        fail(f"cannot reach the gateway at {exc.host}:{exc.port} ({exc.os_error.strerror})")
    except aiohttp.ClientError as exc:
        fail(f"cannot talk to the gateway: {exc or type(exc).__name__}")
    except msgspec.DecodeError as exc:  # ValidationError too: another version's gateway
        fail(f"the gateway's answer is not what this client reads: {exc}")
    except KeyboardInterrupt:
        click.echo(interrupted, err=True)
        raise SystemExit(130) from None


def fail(message: str) -> NoReturn:
    click.echo(f"imgpipe: {message}", err=True)
    raise SystemExit(2)


def need(key: str | None) -> str:
    if not key:
        fail("no API key: pass --key or set IMGPIPE_KEY")
    return key


class Watcher:
    """Shows progress: a live bar on a terminal, a line per change anywhere else."""

    def __init__(self, console: Console) -> None:
        self.console, self.last = console, ""
        self.bar = Progress(
            TextColumn("{task.description:<21}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("images, {task.fields[failed]} failed"),
            TimeElapsedColumn(),
            console=console,
            disable=not console.is_terminal,
        )
        self.task = self.bar.add_task("pending", total=None, failed=0)

    def __enter__(self) -> "Watcher":
        self.bar.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.bar.stop()

    def show(self, view: RequestView) -> None:
        counts = view.counts
        if not self.bar.disable:
            total = counts.total or None  # unknown until the CSV is read: a pulsing bar
            self.bar.update(
                self.task,
                description=view.status,
                completed=counts.done + counts.failed,
                total=total,
                failed=counts.failed,
            )
        elif (line := fmt.progress_line(view)) != self.last:
            self.console.print(line, highlight=False, markup=False, soft_wrap=True)
            self.last = line


async def wait(gw: Gateway, request_id: str, watcher: Watcher) -> StatusView:
    """Poll the status (If-None-Match: an unchanged one costs a 304) until it is final."""
    etag: str | None = None
    delay = POLL_FIRST_S
    while True:
        view, etag = await gw.status_page(request_id, 0, 1, etag)
        if view is not None:
            watcher.show(view)
            if fmt.is_final(view.status):
                return view
            delay = POLL_FIRST_S
        else:
            delay = min(delay * 1.5, POLL_MAX_S)
        await asyncio.sleep(delay)


def connection(command: F) -> F:
    """The --url and --key options every command takes."""
    command = click.option(
        "--key",
        envvar="IMGPIPE_KEY",
        show_envvar=True,
        help="Your API key.",
    )(command)
    return click.option(
        "--url",
        envvar="IMGPIPE_URL",
        default=DEFAULT_URL,
        show_default=True,
        show_envvar=True,
        help="The gateway's base URL.",
    )(command)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="imgpipe")
def cli() -> None:
    """Compress the images of a product CSV with the imgpipe service.

    The gateway's URL and your API key come from --url/--key or IMGPIPE_URL/IMGPIPE_KEY.

    Exit codes: 0 completed, 1 completed with errors (some images failed), 2 failed, usage
    error or an error from the API (its message on stderr).
    """


@cli.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--quality",
    type=Checked(parse_quality, "N|auto[:LEVEL]"),
    help=f"{QUALITY.low}-{QUALITY.high}, or a perceptual level: "
    + ", ".join(f"auto:{level} (SSIMULACRA2 {score:g})" for level, score in LEVELS.items())
    + f"; auto is auto:medium. Default: the gateway's ({QUALITY.default} unless configured).",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(FORMAT.choices, case_sensitive=False),
    help=f"Output format. Default: the gateway's ({FORMAT.default} unless configured).",
)
@click.option(
    "--effort",
    type=click.Choice(EFFORT.choices, case_sensitive=False),
    help=f"Encoder effort: more, fewer bytes, more time (default {EFFORT.default}).",
)
@click.option(
    "--max-bytes",
    type=Checked(MAX_BYTES.parse, "BYTES"),
    help="A ceiling on each image's output size.",
)
@click.option(
    "--max-width",
    type=Checked(MAX_WIDTH.parse, "PX"),
    help="Scale each image down (never up) to at most this width, aspect kept.",
)
@click.option(
    "--max-height",
    type=Checked(MAX_HEIGHT.parse, "PX"),
    help="Scale each image down (never up) to at most this height, aspect kept.",
)
@click.option(
    "--widths",
    type=Checked(parse_widths, "W,W,..."),
    help=f"Up to {MAX_WIDTHS} widths (e.g. 320,640,1280): each image also gets a variant of "
    "each width below its own, and a srcset.",
)
@click.option(
    "--metadata",
    type=click.Choice(METADATA.choices, case_sensitive=False),
    help="What each output keeps: none (default), copyright, keep (no GPS or serials; the "
    "ICC profile), all (GPS and serials too).",
)
@click.option(
    "--animation",
    type=click.Choice(ANIMATION.choices, case_sensitive=False),
    help="An animated source: its first frame (default), or keep every frame (format "
    + " or ".join(ANIMATED_FORMATS)
    + ").",
)
@click.option("--webhook", metavar="URL", help="Called (POST) when the request finishes.")
@click.option("--wait", "wait_", is_flag=True, help="Show progress until the request finishes.")
@click.option(
    "--idempotency-key",
    "idempotency",
    metavar="TEXT",
    help="Use this key instead of the one made from the file and options; another key "
    "processes the same file again.",
)
@connection
def submit(
    file: Path,
    quality: Quality | None,
    output_format: str | None,
    effort: str | None,
    max_bytes: int | None,
    max_width: int | None,
    max_height: int | None,
    widths: tuple[int, ...] | None,
    metadata: str | None,
    animation: str | None,
    webhook: str | None,
    wait_: bool,
    idempotency: str | None,
    url: str,
    key: str | None,
) -> None:
    """Upload FILE (a CSV) and print the new request's id.

    Safe to retry: the upload carries an Idempotency-Key made from the file's content and the
    options, so submitting the same file with the same options again (after a timeout, say)
    answers the first request's id and nothing is processed twice.

    With --wait, progress and the final summary go to stderr (stdout keeps just the id), and
    the exit code tells the outcome: 0 completed, 1 completed with errors, 2 failed.
    """
    api_key = need(key)
    options = {"quality": str(quality)} if quality is not None else {}
    if output_format:
        options["format"] = output_format.lower()
    if effort:
        options["effort"] = effort.lower()
    if max_bytes is not None:
        options["max_bytes"] = str(max_bytes)
    if max_width is not None:
        options["max_width"] = str(max_width)
    if max_height is not None:
        options["max_height"] = str(max_height)
    if widths:
        options["widths"] = ",".join(map(str, widths))
    if metadata:
        options["metadata"] = metadata.lower()
    if animation:
        options["animation"] = animation.lower()
    if webhook:
        options["webhook_url"] = webhook
    data = file.read_bytes()
    idem = idempotency or idempotency_key(data, options)

    async def send() -> tuple[Accepted, bool]:
        async with gateway(url, api_key) as gw:
            return await gw.upload(file.name, data, options, idem)

    answer, replayed = run(send)
    request_id = answer.request_id
    click.echo(request_id)
    if replayed:
        click.echo(
            f"imgpipe: same file and options as an earlier submit: "
            f"that request ({answer.status}) is reused, nothing is processed twice",
            err=True,
        )
    if wait_:
        raise SystemExit(follow(request_id, url, api_key))


def follow(request_id: str, url: str, key: str) -> int:
    """Show the request's progress until it is final, then its summary; the exit code."""
    console = Console(stderr=True)

    async def watch() -> MergedStatus:
        async with gateway(url, key) as gw:
            with Watcher(console) as watcher:
                await wait(gw, request_id, watcher)
            return await gw.status(request_id)

    doc = run(watch, f"stopped watching; the request goes on: imgpipe status {request_id}")
    text = fmt.summary(doc, doc.products, doc.usage)
    console.print(text, highlight=False, markup=False, soft_wrap=True)
    return fmt.exit_code(doc.status)


@cli.command()
@click.argument("request_id")
@click.option("--json", "as_json", is_flag=True, help="The status as JSON (all pages merged).")
@connection
def status(request_id: str, as_json: bool, url: str, key: str | None) -> None:
    """Show a request's status, counts and failed images.

    The summary has the status, the image counts, the bytes saved, the webhook's outcome and
    every failed image with its reason (the first 50; --json has them all).

    Exit code: 0 completed, 1 completed with errors, 2 failed, 3 still pending or processing.
    """
    api_key = need(key)

    async def fetch() -> MergedStatus:
        async with gateway(url, api_key) as gw:
            return await gw.status(request_id)

    doc = run(fetch)
    click.echo(as_text(doc) if as_json else fmt.summary(doc, doc.products, doc.usage))
    raise SystemExit(fmt.exit_code(doc.status))


@cli.command()
@click.argument("request_id")
@click.option(
    "-o", "--output", default="-", metavar="PATH", help="Where to write the CSV (- for stdout)."
)
@connection
def download(request_id: str, output: str, url: str, key: str | None) -> None:
    """Download a finished request's output CSV.

    The output CSV is the input rows plus the output image URLs and the errors; it can be
    downloaded once the request has finished (an unfinished one answers 409).
    """
    api_key = need(key)

    async def fetch(out: BinaryIO) -> None:
        async with gateway(url, api_key) as gw:
            await gw.download(request_id, out)

    if output == "-":
        try:
            run(lambda: fetch(sys.stdout.buffer))
            sys.stdout.flush()
        except BrokenPipeError:  # the reader stopped early (`| head`): not worth a traceback
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise SystemExit(2) from None
        return
    target = Path(output)
    # Written beside the target, then renamed: a failed download never leaves half a CSV.
    partial = target.with_name(f".{target.name}.{os.getpid()}.part")
    try:
        with partial.open("xb") as out:
            run(lambda: fetch(out))
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    click.echo(f"saved {target} ({fmt.human_bytes(target.stat().st_size)})", err=True)


@cli.command()
@click.argument("request_id")
@connection
def delete(request_id: str, url: str, key: str | None) -> None:
    """Delete a finished request: its images, stored CSV and records.

    Its output links stop working. A request still processing (or whose webhook is still
    being delivered) cannot be deleted yet; one deleted already is not found (exit 2).
    """
    api_key = need(key)

    async def remove() -> None:
        async with gateway(url, api_key) as gw:
            await gw.delete(request_id)

    run(remove)
    click.echo(f"deleted {request_id}", err=True)


@cli.command("requests")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--before", metavar="TIME", help="Only requests created before this time.")
@click.option("--json", "as_json", is_flag=True, help="Print them as JSON.")
@connection
def list_requests(limit: int, before: str | None, as_json: bool, url: str, key: str | None) -> None:
    """List your requests, newest first, and your usage next to your limits."""
    api_key = need(key)

    async def fetch() -> RequestList:
        found: list[RequestView] = []
        following = before
        async with gateway(url, api_key) as gw:
            while True:  # the gateway answers at most 100 a page
                page = await gw.requests(min(limit - len(found), 100), following)
                found += page.requests
                following = page.next_before
                if following is None or len(found) >= limit:
                    break
        # The tenant's usage as of the last page.
        return RequestList(requests=found, next_before=following, usage=page.usage)

    listed = run(fetch)
    if as_json:
        click.echo(as_text(listed))
        return
    if listed.requests:
        click.echo(fmt.requests_table(listed.requests))
    else:
        click.echo("no requests yet", err=True)
    if listed.next_before:
        click.echo(f"more: imgpipe requests --before {listed.next_before}", err=True)
    click.echo(f"usage: {fmt.usage_line(listed.usage)}", err=True)


def as_text(view: msgspec.Struct) -> str:
    """A view as indented JSON, as the gateway sent it."""
    return msgspec.json.format(msgspec.json.encode(view), indent=2).decode()


def main() -> None:
    """The `imgpipe` console script."""
    cli(prog_name="imgpipe")


if __name__ == "__main__":
    main()
