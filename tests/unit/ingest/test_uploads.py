"""The gateway's upload checks: form options, the CSV's size and its header."""

import hashlib
import io
import tempfile
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO, cast

import msgspec
import pytest
from starlette.datastructures import FormData, UploadFile

from ingest.csvfile import CsvError
from ingest.uploads import (
    CheckedCsv,
    UploadError,
    check_csv,
    fingerprint,
    form_options,
)
from shared.records import Options
from shared.settings import Settings

ENV = {
    "AMQP_URL": "amqp://guest:guest@127.0.0.1:5672/",
    "S3_ENDPOINT": "127.0.0.1:8333",
    "S3_ACCESS_KEY": "access",
    "S3_SECRET_KEY": "secret",
    "MONGO_URL": "mongodb://127.0.0.1:27017/",
    "DEFAULT_QUALITY": "60",
}
SETTINGS = Settings.from_env(ENV)
LOOPBACK_ALLOWED = Settings.from_env({**ENV, "FETCH_ALLOW_CIDRS": "127.0.0.0/8"})
HOOK = "https://hooks.example.com/imgpipe?token=abc"


def options(settings: Settings = SETTINGS, **fields: str) -> Options:
    return form_options(FormData(list(fields.items())), settings)


# --- quality ------------------------------------------------------------------------------


def test_defaults() -> None:
    assert options() == Options(quality=60, format="jpeg", webhook_url=None)


@pytest.mark.parametrize(
    ("raw", "expected"), [("1", 1), ("50", 50), ("95", 95), (" 7 ", 7), ("", 60), ("   ", 60)]
)
def test_quality(raw: str, expected: int) -> None:
    assert options(quality=raw).quality == expected


@pytest.mark.parametrize("raw", ["0", "96", "-5", "1000"])
def test_quality_out_of_range(raw: str) -> None:
    with pytest.raises(UploadError, match=rf"^quality must be from 1 to 95, got {int(raw)}$") as e:
        options(quality=raw)
    assert e.value.status_code == 400


@pytest.mark.parametrize("raw", ["abc", "7.5", "50%", "1e2"])
def test_quality_not_a_whole_number(raw: str) -> None:
    with pytest.raises(UploadError) as caught:
        options(quality=raw)
    assert str(caught.value) == (
        "quality must be a whole number from 1 to 95 or one of auto, auto:high, auto:medium, "
        f"auto:low, got {raw!r}"
    )
    assert caught.value.status_code == 400


# --- format -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"), [("jpeg", "jpeg"), (" WebP ", "webp"), ("avif", "avif"), ("", "jpeg")]
)
def test_format(raw: str, expected: str) -> None:
    assert options(format=raw).format == expected


def test_format_default_comes_from_the_settings() -> None:
    assert options(Settings.from_env({**ENV, "DEFAULT_FORMAT": "webp"})).format == "webp"


@pytest.mark.parametrize("raw", ["jpg", "png", "gif", "image/jpeg", "x" * 100])
def test_unknown_format(raw: str) -> None:
    with pytest.raises(UploadError) as caught:
        options(format=raw)
    assert str(caught.value) == f"format must be one of jpeg, webp, avif, jxl, got {raw[:20]!r}"
    assert caught.value.status_code == 400


def test_a_file_in_a_text_field_is_ignored() -> None:
    """Current behaviour: only text values count; a file sent as `quality` is not an error."""
    upload = UploadFile(io.BytesIO(b"80"), filename="quality.txt")
    form = FormData([("quality", upload), ("webhook_url", upload)])
    assert form_options(form, SETTINGS) == Options(quality=60, format="jpeg", webhook_url=None)


# --- webhook_url --------------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["", "   ", "\t\n"])
def test_blank_webhook_is_none(raw: str) -> None:
    assert options(webhook_url=raw).webhook_url is None


def test_webhook_is_kept_trimmed() -> None:
    assert options(webhook_url=f"  {HOOK}\n").webhook_url == HOOK
    assert options(webhook_url="http://hooks.example.com:8080/x").webhook_url == (
        "http://hooks.example.com:8080/x"
    )


def test_quality_and_webhook_together() -> None:
    assert options(quality="80", webhook_url=HOOK) == Options(
        quality=80, format="jpeg", webhook_url=HOOK
    )


@pytest.mark.parametrize(
    "raw", ["https://hooks.exämple.com/x", "https://hooks.example.com/café", "https://例え.jp/"]
)
def test_non_ascii_webhook(raw: str) -> None:
    with pytest.raises(UploadError, match=r"^webhook_url must be ASCII") as caught:
        options(webhook_url=raw)
    assert caught.value.status_code == 400


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("ftp://hooks.example.com/x", "unsupported URL scheme 'ftp'"),
        ("file:///etc/passwd", "unsupported URL scheme 'file'"),
        ("hooks.example.com/x", "no scheme"),
        ("http://10.0.0.1/", "blocked address 10.0.0.1 (private)"),
        ("http://127.0.0.1/", "blocked address 127.0.0.1 (loopback)"),
        ("http://169.254.169.254/latest/meta-data", "cloud metadata"),
        ("http://[::1]:8080/", "loopback"),
        ("https://user:pw@hooks.example.com/", "embedded credentials"),
        ("http://2130706433/", "non-canonical IP address"),
    ],
)
def test_blocked_webhook(raw: str, reason: str) -> None:
    with pytest.raises(UploadError) as caught:
        options(webhook_url=raw)
    message = str(caught.value)
    assert message.startswith("webhook_url: ")
    assert reason in message
    assert caught.value.status_code == 400


def test_loopback_webhook_only_when_allowed() -> None:
    assert options(LOOPBACK_ALLOWED, webhook_url="http://127.0.0.1:9000/hook").webhook_url == (
        "http://127.0.0.1:9000/hook"
    )
    # The allow list exempts only what it lists.
    with pytest.raises(UploadError, match=r"^webhook_url: blocked address 10\.0\.0\.1"):
        options(LOOPBACK_ALLOWED, webhook_url="http://10.0.0.1/")
    with pytest.raises(UploadError, match="cloud metadata"):
        options(
            Settings.from_env({**ENV, "FETCH_ALLOW_CIDRS": "169.254.0.0/16"}),
            webhook_url="http://169.254.169.254/",
        )


def test_quality_is_checked_before_the_webhook() -> None:
    with pytest.raises(UploadError, match=r"^quality"):
        options(quality="0", webhook_url="ftp://x")


# --- check_csv ----------------------------------------------------------------------------

GOOD = b"S. No.,Product Name,Input Image Urls\n1,Cat,https://img.example.com/a.jpg\n"


def check(data: bytes, settings: Settings = SETTINGS) -> CheckedCsv:
    return check_csv(io.BytesIO(data), settings)


def test_the_check_counts_images_and_bytes() -> None:
    data = GOOD + b'2,Dog,"https://x/b.jpg, https://x/c.jpg"\n'
    found = check(data)
    assert (found.size, found.images) == (len(data), 3)


def test_over_the_size_limit() -> None:
    with pytest.raises(UploadError) as caught:
        check(GOOD, Settings.from_env({**ENV, "MAX_CSV_BYTES": str(len(GOOD) - 1)}))
    assert caught.value.status_code == 413
    assert str(caught.value) == f"the CSV is larger than the limit of {len(GOOD) - 1} bytes"
    check(GOOD, Settings.from_env({**ENV, "MAX_CSV_BYTES": str(len(GOOD))}))


@pytest.mark.parametrize("data", [b"", b" \r\n\t", b"\n" * 200_000])
def test_empty(data: bytes) -> None:
    with pytest.raises(UploadError, match=r"^the CSV file is empty$") as caught:
        check(data)
    assert caught.value.status_code == 400


def test_good_csv_passes() -> None:
    check(GOOD, SETTINGS)
    check(b"\xef\xbb\xbfs,product,urls,notes\r\n1,Cat,a.jpg,\r\n", SETTINGS)  # BOM, CRLF


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"name,url\nCat,https://img.example.com/a.jpg\n", "Missing columns"),
        (b"S. No.,Product Name,Urls,urls\n1,Cat,a,b\n", "are both the 'Input Image Urls'"),
        (b"S. No.,Product Name,Input Image Urls\n", "no data rows"),
        (b",,\n\n", "The file is empty"),
        (b"S. No.,Product\xff Name,Input Image Urls\n", "not UTF-8"),
        (b'S. No.,"Product Name,Input Image Urls\n1,a,b\n', "not valid CSV"),
    ],
)
def test_bad_csv(data: bytes, message: str) -> None:
    with pytest.raises(CsvError, match=message):
        check(data, SETTINGS)


def test_every_row_of_a_large_file_is_checked() -> None:
    """A bad row far past the header is refused at upload, naming its line."""
    bad_row_late = GOOD + b"2,Dog,https://img.example.com/b.jpg\n" * 2000 + b'3,"unclosed\n'
    assert len(bad_row_late) > 64 * 1024
    with pytest.raises(CsvError, match="Line 2003"):
        check(bad_row_late, SETTINGS)


def test_a_csv_without_urls_is_refused() -> None:
    with pytest.raises(CsvError, match="no image URLs"):
        check(b"S. No.,Product Name,Input Image Urls\n1,Cat,\n", SETTINGS)


@pytest.mark.parametrize(
    ("env", "row", "message"),
    [
        ({"MAX_CSV_ROWS": "1"}, b"2,Dog,https://x/b.jpg\n", "more than 1 rows"),
        ({"MAX_URLS_PER_ROW": "1"}, b'2,Dog,"https://x/b.jpg,https://x/c.jpg"\n', "limit is 1"),
        ({"MAX_URL_LENGTH": "20"}, b"2,Dog,https://x/very-long-name.jpg\n", "limit is 20"),
    ],
)
def test_limits_name_themselves(env: dict[str, str], row: bytes, message: str) -> None:
    with pytest.raises(CsvError, match=message):
        check(GOOD + row, Settings.from_env({**ENV, **env}))


def test_header_must_end_within_64_kib() -> None:
    data = b"S. No.,Product Name,Input Image Urls," + b"x" * (64 * 1024) + b"\n1,a,b\n"
    with pytest.raises(CsvError, match="does not end within the first 65536 bytes"):
        check(data, SETTINGS)


# --- fingerprint --------------------------------------------------------------------------


def test_the_fingerprint_is_the_sha256_of_the_bytes_then_the_options() -> None:
    """The value stored with each Idempotency-Key: unchanged by the streaming check."""
    data = GOOD + b"2,Dog,https://x/b.jpg\n" * 10_000  # several chunks
    opts = options(quality="80")
    expected = hashlib.sha256(data + msgspec.json.encode(opts)).hexdigest()
    assert fingerprint(check(data), opts) == expected
    assert fingerprint(check(data), options(quality="81")) != expected


# --- memory -------------------------------------------------------------------------------


@contextmanager
def spooled_csv(rows: int) -> Iterator[BinaryIO]:
    """A CSV as the gateway gets it: spooled like Starlette's parser does (1 MB, then disk).
    Each row has three URLs and a 2,000-character note, so a few rows make many bytes."""
    with tempfile.SpooledTemporaryFile(max_size=1024 * 1024) as file:
        file.write(b"S. No.,Product Name,Input Image Urls,Notes\n")
        note = b"n" * 2000
        for i in range(rows):
            urls = b",".join(b"https://img.example.com/%d/%d.jpg" % (i, n) for n in range(3))
            file.write(b'%d,Product %d,"%s",%s\n' % (i, i, urls, note))
        yield cast(BinaryIO, file)


def test_memory_stays_flat_for_a_large_csv() -> None:
    """The check holds a chunk and a row at a time, not the file: the most Python allocates
    while checking a 20 MB CSV is well under a megabyte, as for a 200 kB one."""
    settings = Settings.from_env({**ENV, "MAX_CSV_BYTES": str(100 * 1024 * 1024)})
    peaks = {}
    for rows in (100, 10_000):
        with spooled_csv(rows) as file:
            size = file.tell()
            tracemalloc.start()
            try:
                assert check_csv(file, settings).images == 3 * rows
                peaks[size] = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
    (small, small_peak), (large, large_peak) = peaks.items()
    assert large > 20_000_000 and large > 90 * small
    assert small_peak < 1024 * 1024 and large_peak < 1024 * 1024, peaks
