"""Every bad-input case and its exact answer: the tests run these tables, CASES.md shows them.

`python -m tests.bad_input.cases` rewrites CASES.md; test_cases_doc.py fails when it is stale.
URL templates: {origin} is the suite's origin (http://127.0.0.2:PORT, the one address the SSRF
guard allows), {origin_netloc} its host:port, {internal} a server on 127.0.0.1 standing for an
internal service the guard must keep the fetcher away from.
"""

import csv
import io
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.bad_input.payloads import SAMPLES

HEADER = ["S. No.", "Product Name", "Input Image Urls"]
MAX_CSV_BYTES = 100 * 1024 * 1024  # the defaults: the suite's stack leaves these unchanged
MAX_CSV_ROWS = 1_000_000
MAX_IMAGE_BYTES = 3_000_000  # set small in the suite's stack (conftest.py)
FETCH_TIMEOUT_S = 2
RETRY_DELAYS_S = "0.1,0.2"  # 3 attempts in all
ATTEMPTS = 3
NO_ROWS = "The file has a header row but no data rows: there is nothing to do."
NOT_UTF8 = (
    "The file is not UTF-8 text: byte 0x{byte:02X} at offset {offset} is not valid UTF-8. "
    'Save it as "CSV UTF-8" and upload it again.'
)
DOC = Path(__file__).with_name("CASES.md")


def csv_bytes(rows: Sequence[Sequence[str]], header: Sequence[str] = HEADER) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode()


def _lines(*lines: str) -> Callable[[], bytes]:
    return lambda: "".join(f"{line}\n" for line in lines).encode()


def _raw(data: bytes) -> Callable[[], bytes]:
    return lambda: data


_ROW = "1,Widget,http://images.example/a.jpg"
_QUALITY_IS = (
    "quality must be a whole number from 1 to 95 or one of auto, auto:high, auto:medium, auto:low,"
)
_H = ",".join(HEADER)
_GOOD_CSV = _lines(_H, _ROW)


@dataclass(frozen=True)
class Refused:
    """An upload the gateway refuses: the answer, and nothing stored."""

    id: str
    what: str
    status: int
    error: str
    csv: Callable[[], bytes] | None = _GOOD_CSV  # None: no `file` field at all
    fields: tuple[tuple[str, str], ...] = ()  # more form fields
    headers: tuple[tuple[str, str], ...] = ()
    csv_as_text: bool = False  # send the CSV as a plain form field, not as a file
    files: int = 1


REFUSED: tuple[Refused, ...] = (
    Refused("csv-empty", "0-byte file", 400, "the CSV file is empty", _raw(b"")),
    Refused("csv-blank", "only blank lines and spaces", 400, "the CSV file is empty",
            _raw(b"\n  \r\n\t\n")),
    Refused("csv-header-only", "header row, no data rows", 400, NO_ROWS, _lines(_H)),
    Refused("csv-header-blank-rows", "header row, then rows of empty cells", 400, NO_ROWS,
            _lines(_H, ",,", " , , ")),
    Refused("csv-wrong-headers", "header `id,name,link`", 400,
            "Missing columns: 'S. No.' (or 's'), 'Product Name' (or 'product'), "
            "'Input Image Urls' (or 'urls'). Found: 'id', 'name', 'link'.",
            _lines("id,name,link", "1,Widget,http://images.example/a.jpg")),
    Refused("csv-missing-column", "no `Input Image Urls` column", 400,
            "Missing column: 'Input Image Urls' (or 'urls'). Found: 'S. No.', 'Product Name'.",
            _lines("S. No.,Product Name", "1,Widget")),
    Refused("csv-duplicate-column", "`S. No.` and `sno` both present", 400,
            "Columns 'S. No.' (column 1) and 'sno' (column 2) are both the 'S. No.' column: "
            "keep only one.",
            _lines("S. No.,sno,Product Name,Input Image Urls", "1,1,Widget,http://x.example/a")),
    Refused("csv-row-too-wide", "a row with 4 cells under a 3-column header (unquoted URLs)",
            400, 'Line 2: 4 cells, but the header has 3 columns. Quote a cell that holds '
            'several URLs: "url1, url2".',
            _lines(_H, "1,Widget,http://x.example/a.jpg,http://x.example/b.jpg")),
    Refused("csv-no-urls", "rows without any URL", 400, "the CSV lists no image URLs",
            _lines(_H, "1,Widget,", "2,Gadget, ")),
    Refused("csv-binary", "a JPEG uploaded as the CSV", 400, NOT_UTF8.format(byte=0xFF, offset=0),
            lambda: (SAMPLES / "cat_chelsea_451x300.jpg").read_bytes()),
    Refused("csv-latin1", "Latin-1 text (`Café` as byte 0xE9)", 400,
            NOT_UTF8.format(byte=0xE9, offset=42), lambda: f"{_H}\n1,Café,http://x.example/a\n"
            .encode("latin-1")),
    Refused("csv-utf16", "UTF-16 text with BOM (Excel's \"Unicode Text\")", 400,
            NOT_UTF8.format(byte=0xFF, offset=0), lambda: f"{_H}\n{_ROW}\n".encode("utf-16")),
    Refused("csv-huge-cell", "a Product Name cell of 200,000 characters", 400,
            "Line 2: a cell is longer than 131072 characters, the most one cell may hold "
            "(or a quote is not closed).",
            lambda: csv_bytes([["1", "x" * 200_000, "http://x.example/a.jpg"]])),
    Refused("csv-1mb-line", "one 1 MB line without a line break", 400,
            "The header row does not end within the first 65536 bytes.",
            lambda: (_H + "," + "x" * 1_000_000).encode()),
    Refused("csv-unbalanced-quotes", 'a cell opening a quote that never closes (`"Widget,…`)',
            400, "Line 2: not valid CSV (unexpected end of data). Check the quotes in this row.",
            _lines(_H, '1,"Widget,http://x.example/a.jpg', "2,Gadget,http://x.example/b.jpg")),
    Refused("csv-too-large", f"{MAX_CSV_BYTES + 1} bytes (MAX_CSV_BYTES + 1)", 413,
            f"the CSV is larger than the limit of {MAX_CSV_BYTES} bytes",
            lambda: (f"{_H}\n{_ROW}\n".encode() + b"\n" * MAX_CSV_BYTES)[: MAX_CSV_BYTES + 1]),
    Refused("csv-too-many-rows", f"{MAX_CSV_ROWS + 1} data rows (MAX_CSV_ROWS + 1)", 400,
            f"Line {MAX_CSV_ROWS + 2}: more than {MAX_CSV_ROWS} rows; split the file.",
            lambda: f"{_H}\n".encode() + b"1,p,http://x.example/a\n" * (MAX_CSV_ROWS + 1)),
    Refused("csv-too-many-urls", "51 URLs in one cell (MAX_URLS_PER_ROW is 50)", 400,
            "Line 2: 51 image URLs; the limit is 50 per row.",
            lambda: csv_bytes([["1", "W", ",".join(f"http://x.example/{i}" for i in range(51))]])),
    Refused("csv-url-too-long", "a URL of 2,049 characters (MAX_URL_LENGTH is 2,048)", 400,
            "Line 2: image URL 1 is 2049 characters long; the limit is 2048.",
            lambda: csv_bytes([["1", "W", "http://x.example/" + "a" * 2032]])),
    Refused("quality-0", "quality=0", 400, "quality must be from 1 to 95, got 0",
            fields=(("quality", "0"),)),
    Refused("quality-96", "quality=96", 400, "quality must be from 1 to 95, got 96",
            fields=(("quality", "96"),)),
    Refused("quality-abc", "quality=abc", 400, f"{_QUALITY_IS} got 'abc'",
            fields=(("quality", "abc"),)),
    Refused("quality-decimal", "quality=50.5", 400, f"{_QUALITY_IS} got '50.5'",
            fields=(("quality", "50.5"),)),
    Refused("quality-auto-ultra", "quality=auto:ultra (not a level)", 400,
            f"{_QUALITY_IS} got 'auto:ultra'", fields=(("quality", "auto:ultra"),)),
    Refused("effort-unknown", "effort=turbo", 400,
            "effort must be one of fast, balanced, max, got 'turbo'",
            fields=(("effort", "turbo"),)),
    Refused("max-bytes-0", "max_bytes=0", 400, "max_bytes must be from 1 to 1000000000, got 0",
            fields=(("max_bytes", "0"),)),
    Refused("max-bytes-abc", "max_bytes=abc", 400,
            "max_bytes must be a whole number from 1 to 1000000000, got 'abc'",
            fields=(("max_bytes", "abc"),)),
    Refused("widths-0", "widths=0", 400, "widths must be from 1 to 65500, got 0",
            fields=(("widths", "0"),)),
    Refused("widths-negative", "widths=320,-640", 400,
            "widths must be from 1 to 65500, got -640", fields=(("widths", "320,-640"),)),
    Refused("widths-huge", "widths=100000", 400, "widths must be from 1 to 65500, got 100000",
            fields=(("widths", "100000"),)),
    Refused("widths-too-many", "widths=1,2,…,9 (nine; MAX_WIDTHS is 8)", 400,
            "widths: at most 8 widths, got 9", fields=(("widths", "1,2,3,4,5,6,7,8,9"),)),
    Refused("widths-twice", "widths=320,320", 400, "widths: 320 is given twice",
            fields=(("widths", "320,320"),)),
    Refused("widths-empty-item", "widths=320,,640", 400,
            "widths must be whole numbers separated by commas, got '320,,640'",
            fields=(("widths", "320,,640"),)),
    Refused("max-width-0", "max_width=0", 400, "max_width must be from 1 to 65500, got 0",
            fields=(("max_width", "0"),)),
    Refused("max-height-abc", "max_height=abc", 400,
            "max_height must be a whole number from 1 to 65500, got 'abc'",
            fields=(("max_height", "abc"),)),
    Refused("max-width-over-webp", "format=webp, max_width=20000 (WebP holds 16,383 px)", 400,
            "max_width=20000: webp holds at most 16383 px a side",
            fields=(("format", "webp"), ("max_width", "20000"))),
    Refused("widths-over-avif", "format=avif, widths=320,17000 (AVIF holds 16,384 px)", 400,
            "widths: 17000 is wider than avif holds (16384 px)",
            fields=(("format", "avif"), ("widths", "320,17000"))),
    Refused("metadata-unknown", "metadata=secret", 400,
            "metadata must be one of none, copyright, keep, all, got 'secret'",
            fields=(("metadata", "secret"),)),
    Refused("animation-unknown", "animation=loop", 400,
            "animation must be one of first, keep, got 'loop'", fields=(("animation", "loop"),)),
    Refused("animation-keep-jpeg", "animation=keep with format=jpeg (a still format)", 400,
            "animation=keep needs format webp or avif (an animated image), got jpeg",
            fields=(("animation", "keep"), ("format", "jpeg"))),
    Refused("format-unknown", "format=png", 400,
            "format must be one of jpeg, webp, avif, jxl, got 'png'", fields=(("format", "png"),)),
    Refused("webhook-ftp", "webhook_url=ftp://hooks.example/in", 400,
            "webhook_url: unsupported URL scheme 'ftp'",
            fields=(("webhook_url", "ftp://hooks.example/in"),)),
    Refused("webhook-private", "webhook_url=http://10.0.0.1/", 400,
            "webhook_url: blocked address 10.0.0.1 (private)",
            fields=(("webhook_url", "http://10.0.0.1/"),)),
    Refused("webhook-localhost", "webhook_url=http://localhost:9/hook (a name resolving to "
            "loopback)", 400, "webhook_url: blocked address 127.0.0.1 (loopback) for host "
            "'localhost'", fields=(("webhook_url", "http://localhost:9/hook"),)),
    Refused("webhook-loopback", "webhook_url=http://127.0.0.1:9/hook (not in the allow list)",
            400, "webhook_url: blocked address 127.0.0.1 (loopback)",
            fields=(("webhook_url", "http://127.0.0.1:9/hook"),)),
    Refused("webhook-metadata", "webhook_url=http://169.254.169.254/latest/meta-data/", 400,
            "webhook_url: blocked address 169.254.169.254 (cloud metadata)",
            fields=(("webhook_url", "http://169.254.169.254/latest/meta-data/"),)),
    Refused("webhook-no-scheme", "webhook_url=hooks.example/in", 400,
            "webhook_url: invalid URL: no scheme (expected http:// or https://)",
            fields=(("webhook_url", "hooks.example/in"),)),
    Refused("form-no-file", "a form without the `file` field", 400,
            "the form field 'file' must be the CSV file", csv=None, fields=(("quality", "50"),)),
    Refused("form-file-as-text", "the CSV sent as a text field, not a file", 400,
            "the form field 'file' must be the CSV file", csv_as_text=True),
    Refused("form-two-files", "two files in the form", 400,
            "Too many files. Maximum number of files is 1.", files=2),
    Refused("idempotency-key-bad-csv", "a header-only CSV with a valid Idempotency-Key", 400,
            NO_ROWS, _lines(_H), headers=(("Idempotency-Key", "bad-input-retry-1"),)),
    Refused("idempotency-key-too-long", "an Idempotency-Key header of 256 characters", 400,
            "Idempotency-Key must be 1 to 255 visible ASCII characters",
            headers=(("Idempotency-Key", "k" * 256),)),
)  # fmt: skip


@dataclass(frozen=True)
class Accepted:
    """An odd CSV that is fine: accepted (202) and processed; `answer` says what to check."""

    id: str
    what: str
    answer: str


ACCEPTED: tuple[Accepted, ...] = (
    Accepted("csv-extra-columns", "header with two more columns, `Category` and `Notes`",
             "202; completed; the output CSV keeps `Category` and `Notes` and their cells, "
             "before `Output Image Urls` and `Errors`"),
    Accepted("csv-formula-injection",
             'cells `=HYPERLINK("http://evil","x")` (Product Name), `+1+2`, `-3`, `@SUM(A1)`',
             "202; completed; the status shows the cells as given; the output CSV writes each "
             "with a leading `'`: `'=HYPERLINK(\"http://evil\",\"x\")`"),
    Accepted("csv-duplicate-rows", "the same row twice",
             "202; completed; total 2, done 2; the output CSV has both rows, each with its own "
             "output URL"),
    Accepted("idempotency-key-after-refusal", "the key of `idempotency-key-bad-csv` again, "
             "now with a good CSV", "202 `pending` (not 422: the refused upload claimed nothing)"),
)  # fmt: skip


@dataclass(frozen=True)
class Outcome:
    """One image URL in a processed request: its final status and exact reason."""

    id: str
    what: str
    url: str  # template, see the module docstring
    status: str  # "done" or "failed"
    reason: str | None = None
    hits: int | None = None  # requests the origin gets for this URL's path (attempts)
    original_kept: bool = False  # the fetcher stored it; the compressor refused it
    bug: str | None = None  # a known product bug: the test asserts the right answer, xfail


_GAVE_UP = f"(after {ATTEMPTS} attempts)"
_TIMED_OUT = f"timed out after {FETCH_TIMEOUT_S} s {_GAVE_UP}"

URLS: tuple[Outcome, ...] = (
    Outcome("url-ftp", "ftp:// scheme", "ftp://{origin_netloc}/status/200/ftp", "failed",
            "unsupported URL scheme 'ftp'", hits=0),
    Outcome("url-javascript", "javascript: URL", "javascript:alert(1)", "failed",
            "unsupported URL scheme 'javascript'"),
    Outcome("url-file", "file:// URL", "file:///etc/passwd", "failed",
            "unsupported URL scheme 'file'"),
    Outcome("url-no-scheme", "no scheme", "images.example/cat.jpg", "failed",
            "invalid URL: no scheme (expected http:// or https://)"),
    Outcome("url-loopback", "127.0.0.1", "{internal}/cat.jpg", "failed",
            "blocked address 127.0.0.1 (loopback)"),
    Outcome("url-private", "10.x", "http://10.0.0.1/cat.jpg", "failed",
            "blocked address 10.0.0.1 (private)"),
    Outcome("url-metadata", "cloud metadata 169.254.169.254",
            "http://169.254.169.254/latest/meta-data/", "failed",
            "blocked address 169.254.169.254 (cloud metadata)"),
    Outcome("url-unspecified", "0.0.0.0", "http://0.0.0.0:{internal_port}/cat.jpg", "failed",
            "blocked address 0.0.0.0 (unspecified)"),
    Outcome("url-ipv6-loopback", "[::1]", "http://[::1]:{internal_port}/cat.jpg", "failed",
            "blocked address ::1 (loopback)"),
    Outcome("url-ipv4-mapped", "[::ffff:127.0.0.1]",
            "http://[::ffff:127.0.0.1]:{internal_port}/cat.jpg", "failed",
            "blocked address ::ffff:7f00:1 (loopback)"),
    Outcome("url-decimal-ip", "2130706433 (127.0.0.1 as one number)",
            "http://2130706433:{internal_port}/cat.jpg", "failed",
            "invalid URL: non-canonical IP address '2130706433'"),
    Outcome("url-localhost", "`localhost` (a name: refused by the guarded resolver)",
            "http://localhost:{internal_port}/cat.jpg", "failed",
            "blocked address 127.0.0.1 (loopback) for host 'localhost'"),
    Outcome("url-credentials", "user:password@ in the URL",
            "http://user:pw@{origin_netloc}/status/200/credentials", "failed",
            "invalid URL: embedded credentials are not allowed", hits=0),
    Outcome("url-redirect-private", "origin redirects (302) to 127.0.0.1",
            "{origin}/redirect/private?to={internal}/cat.jpg", "failed",
            "blocked address 127.0.0.1 (loopback)", hits=1),
    Outcome("url-redirect-localhost", "origin redirects (302) to `localhost`",
            "{origin}/redirect/localhost?to=http://localhost:{internal_port}/cat.jpg", "failed",
            "blocked address 127.0.0.1 (loopback) for host 'localhost'", hits=1),
    Outcome("url-redirect-loop", "origin redirects to itself forever", "{origin}/loop/a",
            "failed", "too many redirects (more than 5)", hits=6),
    Outcome("url-404", "HTTP 404", "{origin}/status/404/a", "failed", "HTTP 404 Not Found",
            hits=1),
    Outcome("url-500", "HTTP 500 on every attempt", "{origin}/status/500/a", "failed",
            f"HTTP 500 Internal Server Error {_GAVE_UP}", hits=ATTEMPTS),
    Outcome("url-timeout", f"no answer for 3 s (FETCH_TIMEOUT_S={FETCH_TIMEOUT_S})",
            "{origin}/sleep/3/a", "failed", _TIMED_OUT, hits=ATTEMPTS),
    Outcome("url-slow-drip", "a 35 kB body sent in 20 pieces, 0.25 s apart (5 s in all)",
            "{origin}/drip/a", "failed", _TIMED_OUT, hits=ATTEMPTS),
    Outcome("url-wrong-content-type", "JPEG bytes labelled text/plain",
            "{origin}/img/jpeg-as-text.txt", "done", hits=1),
    Outcome("url-html", "an HTML page (200, text/html)", "{origin}/img/page.html", "failed",
            "not an image (received text/html)", hits=1),
    Outcome("url-too-many-bytes", f"3,500,000 bytes with Content-Length "
            f"(MAX_IMAGE_BYTES={MAX_IMAGE_BYTES})", "{origin}/big/3500000/a", "failed",
            f"image larger than {MAX_IMAGE_BYTES} bytes", hits=1),
    Outcome("url-too-many-bytes-chunked", "3,500,000 bytes, chunked (no Content-Length)",
            "{origin}/big-chunked/3500000/a", "failed",
            f"image larger than {MAX_IMAGE_BYTES} bytes", hits=1),
)  # fmt: skip

IMAGES: tuple[Outcome, ...] = (
    Outcome("img-truncated-jpeg", "the sample JPEG cut in half", "{origin}/img/truncated.jpg",
            "failed",
            "truncated or corrupt image: image file is truncated (26 bytes not processed)",
            original_kept=True),
    Outcome("img-zero-bytes", "200 with an empty body", "{origin}/img/empty.jpg", "failed",
            "not an image (empty body)"),
    Outcome("img-decompression-bomb", "69-byte PNG whose header claims 100000×100000",
            "{origin}/img/bomb.png", "failed",
            "image too large: 100000×100000 pixels exceeds the limit of 64000000",
            original_kept=True),
    Outcome("img-corrupt-png", "PNG with scrambled pixel data", "{origin}/img/corrupt.png",
            "failed", "truncated or corrupt image: broken data stream when reading image file",
            original_kept=True),
    Outcome("img-cmyk-jpeg", "CMYK JPEG (pure red ink)", "{origin}/img/cmyk.jpg", "done"),
    Outcome("img-16-bit-png", "16-bit greyscale PNG (a 0–65535 ramp)", "{origin}/img/grey16.png",
            "done"),
    Outcome("img-animated-gif", "2-frame GIF: red, then blue", "{origin}/img/animated.gif", "done"),
    Outcome("img-huge-dimensions", "valid 8001×8000 PNG (64,008,000 pixels, 62 kB)",
            "{origin}/img/huge.png", "failed",
            "image too large: 8001×8000 pixels exceeds the limit of 64000000", original_kept=True),
    Outcome("img-svg", "SVG (image/svg+xml)", "{origin}/img/drawing.svg", "failed",
            "not an image (received image/svg+xml; SVG is not supported)"),
)  # fmt: skip


@dataclass(frozen=True)
class Unmet:
    """Options no encoding of the image can meet: one request each, its one image fails."""

    id: str
    what: str
    fields: tuple[tuple[str, str], ...]
    reason: str  # {n}: a number that depends on the codec's version
    image: str = "good.jpg"  # what the origin serves (payloads.py)


# The origin's good.jpg: the sample cat photo (payloads.py).
UNMET: tuple[Unmet, ...] = (
    Unmet("max-bytes-unreachable", "quality=50, max_bytes=100 (smaller than any encoding)",
          (("quality", "50"), ("max_bytes", "100")),
          "no encoding fits max_bytes=100: the smallest, at quality 1, is {n} bytes"),
    Unmet("max-bytes-below-level", "quality=auto:high, max_bytes=2000 (the level needs more)",
          (("quality", "auto:high"), ("max_bytes", "2000")),
          "cannot reach auto:high within max_bytes=2000: its smallest encoding is {n} bytes "
          "(quality {n})"),
    Unmet("animation-10000-frames", "animation=keep, format=webp: a 10,000-frame GIF "
          "(MAX_FRAMES is 1,000)", (("animation", "keep"), ("format", "webp")),
          "animation has 10000 frames; the limit is 1000", image="frames-10000.gif"),
)  # fmt: skip


@dataclass(frozen=True)
class Dropped:
    """A CSV put straight into the inbox bucket with bad options in its metadata: its request
    fails with the reason (nobody to answer 400 to), and the object is kept."""

    id: str
    what: str
    metadata: tuple[tuple[str, str], ...]
    error: str


DROPPED: tuple[Dropped, ...] = (
    Dropped("drop-quality-auto-ultra", "x-amz-meta-quality: auto:ultra",
            (("quality", "auto:ultra"),), f"{_QUALITY_IS} got 'auto:ultra'"),
    Dropped("drop-effort-unknown", "x-amz-meta-effort: turbo", (("effort", "turbo"),),
            "effort must be one of fast, balanced, max, got 'turbo'"),
    Dropped("drop-max-bytes-0", "x-amz-meta-max-bytes: 0", (("max-bytes", "0"),),
            "max_bytes must be from 1 to 1000000000, got 0"),
    Dropped("drop-metadata-unknown", "x-amz-meta-metadata: gps", (("metadata", "gps"),),
            "metadata must be one of none, copyright, keep, all, got 'gps'"),
    Dropped("drop-widths-twice", "x-amz-meta-widths: 640,640", (("widths", "640,640"),),
            "widths: 640 is given twice"),
    Dropped("drop-max-width-over-webp", "x-amz-meta-format: webp, x-amz-meta-max-width: 20000",
            (("format", "webp"), ("max-width", "20000")),
            "max_width=20000: webp holds at most 16383 px a side"),
)  # fmt: skip


@dataclass(frozen=True)
class Auth:
    """One API call with a missing, wrong or other tenant's credential, or a bad id."""

    id: str
    what: str
    method: str
    path: str  # {own} is a request of the suite's tenant
    key: str  # "none", "bad", "own" or "other" (another tenant's valid key)
    status: int
    error: str  # {id} is the id in the path


_MISSING = "missing API key: send `Authorization: Bearer <key>` or `X-API-Key: <key>`"
_INVALID = "invalid or revoked API key: send `Authorization: Bearer <key>` or `X-API-Key: <key>`"
_NOT_FOUND = "no request with id '{id}'"

AUTH: tuple[Auth, ...] = (
    Auth("auth-no-key-upload", "upload without a key", "POST", "/api/upload", "none", 401,
         _MISSING),
    Auth("auth-no-key-status", "status without a key", "GET", "/api/status/{own}", "none", 401,
         _MISSING),
    Auth("auth-bad-key-status", "status with `Bearer imgp_not-a-key`", "GET", "/api/status/{own}",
         "bad", 401, _INVALID),
    Auth("auth-bad-key-download", "download with a bad key", "GET", "/api/download/{own}", "bad",
         401, _INVALID),
    Auth("auth-other-tenant-status", "another tenant's key asks for our request's status", "GET",
         "/api/status/{own}", "other", 404, _NOT_FOUND),
    Auth("auth-other-tenant-download", "another tenant's key downloads our request", "GET",
         "/api/download/{own}", "other", 404, _NOT_FOUND),
    Auth("auth-no-key-delete", "delete without a key", "DELETE", "/api/requests/{own}", "none",
         401, _MISSING),
    Auth("auth-other-tenant-delete", "another tenant's key deletes our request", "DELETE",
         "/api/requests/{own}", "other", 404, _NOT_FOUND),
    Auth("auth-malformed-id", "status of `not-a-request-id`", "GET",
         "/api/status/not-a-request-id", "own", 404, _NOT_FOUND),
    Auth("auth-uppercase-id", "status of our id in capitals (ids are lower-case hex)", "GET",
         "/api/status/{own_upper}", "own", 404, _NOT_FOUND),
    Auth("auth-unknown-id", "status of a well-formed id nobody has", "GET",
         "/api/status/0123456789abcdef0123456789abcdef", "own", 404, _NOT_FOUND),
)  # fmt: skip


@dataclass(frozen=True)
class BadLimit:
    """`python -m ingest.keys limit` given a bad limit: exit 2, the error on stderr after the
    command's usage, and the tenant's limits as they were."""

    id: str
    what: str
    argv: tuple[str, ...]  # after `limit`; {tenant} is the suite's tenant
    error: str


BAD_LIMITS: tuple[BadLimit, ...] = (
    BadLimit("limit-negative", "a negative limit", ("{tenant}", "--concurrent", "-1"),
             "argument --concurrent: must be 0 (no limit) or more, got -1"),
    BadLimit("limit-not-a-number", "a word for a limit", ("{tenant}", "--images-per-day", "ten"),
             "argument --images-per-day: not a whole number: 'ten'"),
    BadLimit("limit-decimal", "a decimal number of bytes",
             ("{tenant}", "--bytes-stored", "1.5e9"),
             "argument --bytes-stored: not a whole number: '1.5e9'"),
    BadLimit("limit-empty", "an empty limit", ("{tenant}", "--bytes-stored", ""),
             "argument --bytes-stored: not a whole number: ''"),
    BadLimit("limit-missing-value", "an option without its number",
             ("{tenant}", "--images-per-day"), "argument --images-per-day: expected one argument"),
    BadLimit("limit-none-given", "no limit named", ("{tenant}",),
             "give at least one of --concurrent, --images-per-day, --bytes-stored"),
    BadLimit("limit-bad-tenant", "a tenant name with capitals and a space",
             ("Acme Corp", "--concurrent", "2"),
             "tenant 'Acme Corp': use lower-case letters, digits and dashes (1 to 63)"),
)  # fmt: skip


@dataclass(frozen=True)
class OverQuota:
    """A CSV over its tenant's images a day on its own ({tenant}: one made for the case, with
    `--images-per-day` set): the upload answers `status`, or the dropped CSV's request fails;
    nothing is counted."""

    id: str
    what: str
    per_day: int
    images: int
    status: int | None  # the upload's answer; None: the CSV is dropped, its request fails
    error: str


_SPLIT_IT = "the CSV has 3 images, more than tenant {tenant} may have in a day (2, max_images_per_day): split it"  # noqa: E501

OVER_QUOTA: tuple[OverQuota, ...] = (
    OverQuota("quota-upload-over-a-day", "upload of 3 images, 2 a day allowed", 2, 3, 413,
              _SPLIT_IT),
    OverQuota("quota-drop-over-a-day", "dropped CSV of 3 images, 2 a day allowed", 2, 3, None,
              _SPLIT_IT),
)  # fmt: skip


@dataclass(frozen=True)
class Rerun:
    """The same URL asked again by the same tenant (issue 14), the origin misbehaving: the last
    request's image as the test checks it. Image 1 and image 2 are two pictures of other
    sizes and colours made for the case; "shows" says which one the output decodes to."""

    id: str
    what: str  # what the origin serves and answers, request by request
    status: str  # the last image's: "done" or "failed"
    shows: str | None = None  # done: the image its output is
    reason: str | None = None  # failed: the exact reason
    revalidated: bool = False
    reused: bool = False
    hits: int = 2  # requests the origin got for the URL, over all of the case's requests
    why: str = ""  # the service's choice, where it is not plain


RERUNS: tuple[Rerun, ...] = (
    Rerun("rerun-weak-etag", 'image 1 with the weak ETag `W/"v1"`, 304 to an If-None-Match '
          "naming it", "done", "image 1", revalidated=True, reused=True,
          why='The second request sends `If-None-Match: W/"v1"` as it came: RFC 9110 allows '
          "weak comparison for a GET, and the 304 is trusted"),
    Rerun("rerun-weak-etag-changed", 'image 1 with `W/"v1"`, then image 2 with `W/"v2"` (200 '
          'to `If-None-Match: W/"v1"`)', "done", "image 2"),
    Rerun("rerun-same-etag-304", 'image 1, then image 2, both with the ETag `"same"`; 304 to '
          'an If-None-Match naming it', "done", "image 1", revalidated=True, reused=True,
          why="The origin says the image did not change: the service cannot tell, trusts the "
          "304 and keeps the earlier output"),
    Rerun("rerun-same-etag-200", 'image 1, then image 2, both with the ETag `"same"`; the '
          "origin ignores If-None-Match (200 with image 2)", "done", "image 2",
          why="New bytes are compressed: reuse is keyed by the bytes' SHA-256, not the ETag"),
    Rerun("rerun-304-unconditional", "304 (ETag `\"v1\"`) to every request, the first one "
          "too (not conditional)", "failed",
          reason="HTTP 304 Not Modified (to a request that was not conditional)",
          why="Both requests fail and neither is conditional: nothing is stored, no original, "
          "no output, no validators"),
    Rerun("rerun-304-original-gone", "image 1 with an ETag, 304 to the second request; its "
          "original deleted from the store in between (as RETAIN_ORIGINALS_DAYS' expiry does), "
          "its output kept", "done", "image 1", revalidated=True, reused=True,
          why="Reusing the output needs no original"),
    Rerun("rerun-304-all-gone", "image 1 with an ETag, 304 to If-None-Match; the first request "
          "deleted (`DELETE /api/requests/{id}`) before the second, taking its original and "
          "output", "done", "image 1", hits=2,
          why="Its validators went with it (they are recorded with its images): the second "
          "request is unconditional, downloaded again and compressed"),
    Rerun("rerun-304-output-gone", "image 1 with an ETag, 304 to the second request; its "
          "output deleted from the store in between (as RETAIN_COMPRESSED_DAYS' expiry does), "
          "its original kept", "done", "image 1", revalidated=True,
          why="The stored original is compressed again. Deleting the request cannot do this: "
          "its original and output go together"),
    Rerun("rerun-same-validators-two-urls", "two URLs, image 1 at one and image 2 at the other, "
          "with the same ETag and Last-Modified, each asked twice (304 the second time)",
          "done", "each URL's own image", revalidated=True, reused=True, hits=4,
          why="Validators are kept per URL (and tenant): never mixed"),
    Rerun("rerun-tampered-result", "image 1 with an ETag, 304 to the second request; in "
          "between, its image's record in MongoDB made to claim image 2's output (its key, "
          "size and length) for image 1's SHA-256", "done", "image 1", revalidated=True,
          why="The fetcher and the compressor both check the stored length beside the hash: "
          "compressed afresh"),
    Rerun("rerun-etag-then-none", 'image 1 with the ETag `"v1"`; then image 2 without '
          "validators; then image 2 again, the origin now answering 304 to any conditional "
          "request", "done", "image 2", reused=True, hits=3,
          why="Validators come from the last answer: one without any makes the next request "
          "unconditional (its output: the second request's, the same bytes)"),
    Rerun("rerun-last-modified-only", "image 1 with a Last-Modified only, 304 to an "
          "If-Modified-Since naming it; then image 2 with a later Last-Modified", "done",
          "image 2", hits=3,
          why="The second request (If-Modified-Since only) is revalidated and reused; the "
          "third downloads image 2"),
)  # fmt: skip


_BIG_ROW = "1,Widget,http://images.example/" + "a" * 70 + ".jpg"  # 106 bytes with its line end
BIG_ROWS = 500_000  # 53 MB of them


@dataclass(frozen=True)
class CutShort:
    """An upload whose client closes the connection after `sent` bytes of the file part (of a
    form whose Content-Length promised a 10 MB one): nothing is stored, no temporary file is
    left open in the gateway, and it logs `upload cut short: the client disconnected`."""

    id: str
    what: str
    sent: int
    on_disk: bool  # past the 1 MB Starlette's parser spools in memory: the test waits for the
    # gateway's temporary file to exist before it closes


# Issue 13: a big CSV is checked as it streams through the gateway.
STREAMED: tuple[Refused, ...] = (
    Refused("csv-bad-row-at-the-end", f"{BIG_ROWS:,} good rows ({BIG_ROWS * 106 // 10**6} MB), "
            "then a row of 4 cells", 400,
            f"Line {BIG_ROWS + 2}: 4 cells, but the header has 3 columns. Quote a cell that "
            'holds several URLs: "url1, url2".',
            lambda: f"{_H}\n".encode() + f"{_BIG_ROW}\n".encode() * BIG_ROWS
            + b"2,Gadget,http://x.example/a.jpg,http://x.example/b.jpg\n"),
    Refused("csv-long-line", "a row, then 10 MB of cells without a line break", 400,
            "Line 3: longer than 1048576 characters, the most one line may hold (or its line "
            "break is missing).",
            lambda: f"{_H}\n{_ROW}\n".encode() + (b"x" * 999 + b",") * 10_000),
    Refused("csv-far-too-large", f"{2 * MAX_CSV_BYTES} bytes (2 × MAX_CSV_BYTES): refused "
            "once the body is longer than a form with a CSV within the limit can be, the rest "
            "received and dropped", 413,
            f"the CSV is larger than the limit of {MAX_CSV_BYTES} bytes",
            lambda: (f"{_H}\n{_ROW}\n".encode() + b"\n" * 2 * MAX_CSV_BYTES)[: 2 * MAX_CSV_BYTES]),
)  # fmt: skip

CUT_SHORT: tuple[CutShort, ...] = (
    CutShort("upload-cut-short", "the client closes after 100 kB of the CSV (spooled in "
             "memory)", 100_000, on_disk=False),
    CutShort("upload-cut-short-on-disk", "the client closes after 3 MB of the CSV (spooled to "
             "a temporary file)", 3_000_000, on_disk=True),
)  # fmt: skip


def count() -> int:
    return (
        len(REFUSED)
        + len(ACCEPTED)
        + len(URLS)
        + len(IMAGES)
        + len(UNMET)
        + len(DROPPED)
        + len(AUTH)
        + len(BAD_LIMITS)
        + len(OVER_QUOTA)
        + len(RERUNS)
        + len(STREAMED)
        + len(CUT_SHORT)
    )


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _code(text: str) -> str:
    return f"`` {text} ``" if "`" in text else f"`{text}`"


def _outcome(case: Outcome) -> str:
    answer = "done" if case.status == "done" else f"failed: {_code(case.reason or '')}"
    if case.hits is not None:
        answer += f" ({case.hits} request{'s' if case.hits != 1 else ''} to the origin)"
    if case.bug:
        answer += " **(known bug: xfail, see below)**"
    return answer


def _rerun(case: Rerun) -> str:
    if case.status == "done":
        answer = f"done: {case.shows}; " + ", ".join(
            name if on else f"not {name}"
            for name, on in (("revalidated", case.revalidated), ("reused", case.reused))
        )
    else:
        answer = f"failed: {_code(case.reason or '')}"
    answer += f" ({case.hits} requests to the origin)"
    return f"{answer}. {case.why}" if case.why else answer


def render() -> str:
    """CASES.md: one table per category, every case with its exact answer."""
    out = [
        "# Bad-input cases (tests/bad_input/)",
        "",
        f"{count()} cases, each asserting the exact answer. Generated from `cases.py` by "
        "`python -m tests.bad_input.cases`; `test_cases_doc.py` fails when this file is stale.",
        "",
        "The suite runs its own stack with the SSRF guard on for everything but its origin "
        "server on 127.0.0.2 (`FETCH_ALLOW_CIDRS=127.0.0.2/32`), "
        f"`MAX_IMAGE_BYTES={MAX_IMAGE_BYTES}`, `FETCH_TIMEOUT_S={FETCH_TIMEOUT_S}`, "
        f"`RETRY_DELAYS_S={RETRY_DELAYS_S}` ({ATTEMPTS} "
        "attempts); other limits are the defaults. {origin} is that server; {internal} is a "
        "server on 127.0.0.1 that serves a good image, standing for an internal service: the "
        "tests assert it never gets a request.",
        "",
        "For every case also: no process of the stack exits, no service logs a traceback or "
        "answers 5xx, a good request made after the bad ones completes (with its webhook "
        "delivered), and nothing half-written is left: a "
        "refused upload creates no request document, no idempotency key and no object in "
        "`csv-inbox`, and leaves no temporary file open in the gateway; a failed image has "
        "no object in `compressed-images` (and, when the fetcher refused it, none in "
        "`original-images`).",
        "",
        "A failed image also has an empty slot in the output CSV's `Output Image Urls` and "
        "`1: <reason>` in its `Errors` cell; a done one has its link there. In the access "
        "table, {own} is a finished request of the suite's tenant and {id} the id in the path.",
        "",
        '## Uploads refused (HTTP status and `{"error": …}`)',
        "",
        "| # | case | input | answer |",
        "|---|---|---|---|",
    ]
    n = 0
    for r in REFUSED:
        n += 1
        out.append(f"| {n} | {r.id} | {_cell(r.what)} | {r.status} {_cell(_code(r.error))} |")
    out += ["", "## Odd CSVs accepted", "", "| # | case | input | answer |", "|---|---|---|---|"]
    for a in ACCEPTED:
        n += 1
        out.append(f"| {n} | {a.id} | {_cell(a.what)} | {_cell(a.answer)} |")
    for title, cases in (
        ("Image URLs: one request, one row each; it ends `completed_with_errors`", URLS),
        ("Images served by the origin: one request, one row each; `completed_with_errors`", IMAGES),
    ):
        out += ["", f"## {title}", "", "| # | case | URL | answer |", "|---|---|---|---|"]
        for o in cases:
            n += 1
            out.append(
                f"| {n} | {o.id} | {_cell(o.what)}: {_cell(_code(o.url))} | {_cell(_outcome(o))} |"
            )
    out += [
        "",
        "## Options no encoding can meet: one request each (its one image, the origin's "
        "`good.jpg`, fails); {n} is a size the codec decides",
        "",
        "| # | case | options | answer |",
        "|---|---|---|---|",
    ]
    for u in UNMET:
        n += 1
        out.append(f"| {n} | {u.id} | {_cell(u.what)} | failed: {_cell(_code(u.reason))} |")
    out += [
        "",
        "## Bad options on a CSV dropped into the inbox: the request fails, the object is kept",
        "",
        "| # | case | metadata | answer |",
        "|---|---|---|---|",
    ]
    for d in DROPPED:
        n += 1
        out.append(f"| {n} | {d.id} | {_cell(_code(d.what))} | failed: {_cell(_code(d.error))} |")
    out += ["", "## Access", "", "| # | case | call | answer |", "|---|---|---|---|"]
    for c in AUTH:
        n += 1
        call = f"{c.method} {c.path}, key: {c.key}"
        out.append(
            f"| {n} | {c.id} | {_cell(c.what)}: {_cell(_code(call))} | "
            f"{c.status} {_cell(_code(c.error))} |"
        )
    out += [
        "",
        "## Limits: `python -m ingest.keys limit` refused (exit 2; nothing changes), and CSVs "
        "over a tenant's limit",
        "",
        "| # | case | input | answer |",
        "|---|---|---|---|",
    ]
    for b in BAD_LIMITS:
        n += 1
        command = shlex.join(["limit", *b.argv]).replace("'{tenant}'", "{tenant}")
        out.append(f"| {n} | {b.id} | {_cell(b.what)}: {_cell(_code(command))} | "
                   f"exit 2 {_cell(_code(b.error))} |")  # fmt: skip
    for q in OVER_QUOTA:
        n += 1
        answer = f"failed: {_code(q.error)}" if q.status is None else f"{q.status} {_code(q.error)}"
        out.append(f"| {n} | {q.id} | {_cell(q.what)} | {_cell(answer)} |")
    out += [
        "",
        "## Re-runs: the same URL asked again by the same tenant, the origin misbehaving "
        "(issue 14); each request one image, the last one's shown",
        "",
        "| # | case | origin | answer |",
        "|---|---|---|---|",
    ]
    for rerun in RERUNS:
        n += 1
        out.append(f"| {n} | {rerun.id} | {_cell(rerun.what)} | {_cell(_rerun(rerun))} |")
    out += [
        "",
        "## Big CSVs (issue 13): checked as they stream, refused naming the line or size; an "
        "upload cut short leaves nothing behind",
        "",
        "| # | case | input | answer |",
        "|---|---|---|---|",
    ]
    for r in STREAMED:
        n += 1
        out.append(f"| {n} | {r.id} | {_cell(r.what)} | {r.status} {_cell(_code(r.error))} |")
    for c in CUT_SHORT:
        n += 1
        answer = (
            "no answer (the client is gone); no request, no idempotency key, no object in "
            "`csv-inbox`, no temporary file left open; the gateway logs "
            "`upload cut short: the client disconnected`"
        )
        out.append(f"| {n} | {c.id} | {_cell(c.what)} | {answer} |")
    bugs = [case for case in (*URLS, *IMAGES) if case.bug]
    if bugs:
        out += ["", "## Known product bugs (strict xfail until fixed)", ""]
        out += [f"- {case.id}: {case.bug}." for case in bugs]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    DOC.write_text(render())
    print(f"wrote {DOC} ({count()} cases)")
