"""Settings.from_env with plain dicts: required keys, defaults, casts, hidden secrets."""

import ipaddress
import re
from dataclasses import FrozenInstanceError

import pytest

from shared.cpus import available_cpus
from shared.settings import Allowlist, Settings, SettingsError, amqp_urls

REQUIRED = {
    "AMQP_URL": "amqp://imgpipe:amqp-pw-123@rabbit:5672/",
    "S3_ENDPOINT": "minio:9000",
    "S3_ACCESS_KEY": "AKIAEXAMPLEACCESS",
    "S3_SECRET_KEY": "s3-secret-key-456",
    "MONGO_URL": "mongodb://imgpipe:mongo-pw-789@mongo:27017/",
}
SECRETS = ("amqp-pw-123", "AKIAEXAMPLEACCESS", "s3-secret-key-456", "mongo-pw-789")


def settings(**overrides: str) -> Settings:
    return Settings.from_env({**REQUIRED, **overrides})


def test_required_values_are_read() -> None:
    s = settings()
    assert s.amqp_url == REQUIRED["AMQP_URL"]
    assert s.s3_endpoint == "minio:9000"
    assert s.s3_access_key == "AKIAEXAMPLEACCESS"
    assert s.s3_secret_key == "s3-secret-key-456"
    assert s.mongo_url == REQUIRED["MONGO_URL"]


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_missing_required_key_is_named(name: str) -> None:
    env = {k: v for k, v in REQUIRED.items() if k != name}
    with pytest.raises(SettingsError, match=f"^environment variable {name} is required$"):
        Settings.from_env(env)


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_blank_required_key_counts_as_missing(name: str) -> None:
    with pytest.raises(SettingsError, match=name):
        settings(**{name: "   "})


def test_required_values_are_stripped() -> None:
    assert settings(S3_ENDPOINT="  minio:9000\n").s3_endpoint == "minio:9000"


def test_defaults() -> None:
    s = settings()
    assert s.s3_secure is False
    assert s.s3_public_endpoint == "minio:9000"  # defaults to S3_ENDPOINT
    assert s.s3_public_secure is False
    assert s.s3_region == "us-east-1"
    assert s.mongo_db == "imgpipe"
    assert s.public_base_url == "http://127.0.0.1:8000"
    assert s.prefetch == 16
    assert s.default_quality == 50
    assert (s.max_csv_bytes, s.max_csv_rows) == (100 * 1024 * 1024, 1_000_000)
    assert s.max_image_bytes == 25 * 1024 * 1024
    assert s.max_image_pixels == 64_000_000
    assert s.fetch_timeout_s == 30.0
    assert s.webhook_timeout_s == 10.0
    assert s.output_url_expiry_s == 7 * 24 * 3600
    assert s.fetch_allow_cidrs == ()
    assert s.fetch_allow_hosts == ()
    assert s.fetch_allow == Allowlist()


def test_blank_optional_values_take_defaults() -> None:
    s = settings(
        S3_PUBLIC_ENDPOINT=" ",
        S3_REGION="",
        MONGO_DB=" ",
        PUBLIC_BASE_URL="",
        PREFETCH=" ",
        S3_SECURE="",
        FETCH_ALLOW_CIDRS=" , ",
        FETCH_ALLOW_HOSTS=" ,, ",
    )
    assert s == settings()


def test_overrides() -> None:
    s = settings(
        S3_PUBLIC_ENDPOINT=" images.example.com ",
        S3_REGION="eu-west-3",
        MONGO_DB="imgpipe_test",
        PREFETCH="4",
        DEFAULT_QUALITY=" 75 ",
        MAX_CSV_BYTES="1024",
        MAX_IMAGE_BYTES="2048",
        MAX_IMAGE_PIXELS="1000000",
        FETCH_TIMEOUT_S="5",
        WEBHOOK_TIMEOUT_S="3",
        OUTPUT_URL_EXPIRY_S="3600",
    )
    assert s.s3_public_endpoint == "images.example.com"
    assert s.s3_endpoint == "minio:9000"
    assert s.s3_region == "eu-west-3"
    assert s.mongo_db == "imgpipe_test"
    assert (s.prefetch, s.default_quality) == (4, 75)
    assert (s.max_csv_bytes, s.max_image_bytes, s.max_image_pixels) == (1024, 2048, 1_000_000)
    assert s.fetch_timeout_s == 5.0
    assert isinstance(s.fetch_timeout_s, float)
    assert s.webhook_timeout_s == 3.0
    assert isinstance(s.webhook_timeout_s, float)
    assert s.output_url_expiry_s == 3600


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://img.example.com/", "https://img.example.com"),
        ("https://img.example.com///", "https://img.example.com"),
        ("https://example.com/imgpipe/", "https://example.com/imgpipe"),
        (" https://img.example.com ", "https://img.example.com"),
    ],
)
def test_public_base_url_loses_trailing_slashes(raw: str, expected: str) -> None:
    assert settings(PUBLIC_BASE_URL=raw).public_base_url == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1", True),
        ("true", True),
        ("TRUE", True),
        (" yes ", True),
        ("On", True),
        ("0", False),
        ("false", False),
        ("No", False),
        ("off", False),
    ],
)
def test_flags(raw: str, expected: bool) -> None:
    assert settings(S3_SECURE=raw).s3_secure is expected


@pytest.mark.parametrize("raw", ["2", "y", "enabled", "truee"])
def test_bad_flag(raw: str) -> None:
    with pytest.raises(SettingsError, match=r"^S3_SECURE must be true or false, got "):
        settings(S3_SECURE=raw)


def test_public_secure_follows_secure_unless_set() -> None:
    assert settings(S3_SECURE="true").s3_public_secure is True
    assert settings(S3_SECURE="true", S3_PUBLIC_SECURE="false").s3_public_secure is False
    assert settings(S3_PUBLIC_SECURE="true").s3_public_secure is True
    assert settings(S3_PUBLIC_SECURE="true").s3_secure is False


INTEGERS = [
    "PREFETCH",
    "DEFAULT_QUALITY",
    "MAX_CSV_BYTES",
    "MAX_IMAGE_BYTES",
    "MAX_IMAGE_PIXELS",
    "OUTPUT_URL_EXPIRY_S",
]
SECONDS = ["FETCH_TIMEOUT_S", "WEBHOOK_TIMEOUT_S"]


@pytest.mark.parametrize("name", INTEGERS)
@pytest.mark.parametrize("raw", ["ten", "1e3", "2.5", "0x10", "16 kB"])
def test_bad_integer(name: str, raw: str) -> None:
    pattern = rf"^{name} must be an integer, got '{re.escape(raw)}'$"
    with pytest.raises(SettingsError, match=pattern):
        settings(**{name: raw})


@pytest.mark.parametrize("name", SECONDS)
@pytest.mark.parametrize(("raw", "expected"), [("2.5", 2.5), ("45", 45.0), (" 0.25 ", 0.25)])
def test_timeouts_take_fractions_of_seconds(name: str, raw: str, expected: float) -> None:
    value = getattr(settings(**{name: raw}), name.lower())
    assert value == expected
    assert isinstance(value, float)


@pytest.mark.parametrize("name", SECONDS)
@pytest.mark.parametrize("raw", ["ten", "5s", "0x10", "1,5"])
def test_bad_timeout(name: str, raw: str) -> None:
    pattern = rf"^{name} must be a number of seconds, got '{re.escape(raw)}'$"
    with pytest.raises(SettingsError, match=pattern):
        settings(**{name: raw})


@pytest.mark.parametrize("name", SECONDS)
@pytest.mark.parametrize("raw", ["0", "-1", "-0.5", "-inf"])
def test_timeout_must_be_positive(name: str, raw: str) -> None:
    with pytest.raises(
        SettingsError,
        match=rf"^{name} must be a positive number of seconds, got '{re.escape(raw)}'$",
    ):
        settings(**{name: raw})


@pytest.mark.parametrize("name", SECONDS)
@pytest.mark.parametrize("raw", ["nan", "inf", "-inf"])
def test_timeout_is_finite(name: str, raw: str) -> None:
    with pytest.raises(SettingsError, match=name):
        settings(**{name: raw})


def test_fetch_allow_cidrs() -> None:
    s = settings(FETCH_ALLOW_CIDRS=" 127.0.0.0/8 , 10.1.2.3/16,,::1 , fd00::/8 ")
    assert s.fetch_allow_cidrs == (
        ipaddress.ip_network("127.0.0.0/8"),
        ipaddress.ip_network("10.1.0.0/16"),  # host bits cleared (strict=False)
        ipaddress.ip_network("::1/128"),  # a bare address is a single-host network
        ipaddress.ip_network("fd00::/8"),
    )


@pytest.mark.parametrize("raw", ["localhost", "10.0.0.0/33", "10.0.0.0/8,300.1.1.1", "::g/64"])
def test_bad_cidr(raw: str) -> None:
    with pytest.raises(SettingsError, match=r"^FETCH_ALLOW_CIDRS: "):
        settings(FETCH_ALLOW_CIDRS=raw)


def test_fetch_allow_hosts() -> None:
    s = settings(
        FETCH_ALLOW_HOSTS=" Images.Internal , *.CDN.example.,,localhost,my_svc-1 ",
        FETCH_ALLOW_CIDRS="10.1.0.0/16",
    )
    hosts = ("images.internal", "*.cdn.example", "localhost", "my_svc-1")
    assert s.fetch_allow_hosts == hosts  # lower case, final dot dropped
    assert s.fetch_allow == Allowlist((ipaddress.ip_network("10.1.0.0/16"),), hosts)


@pytest.mark.parametrize(
    "raw",
    [
        "*",
        "*.",
        "*example.com",
        "a.*.example.com",
        "**.example.com",
        ".example.com",
        "a..example.com",
        "http://images.example.com",
        "images.example.com:8080",
        "images.example.com/path",
        "exa mple.com",
        "ok.example.com,bad host",
        "::1",
        "[::1]",
    ],
)
def test_bad_allow_host(raw: str) -> None:
    with pytest.raises(SettingsError, match=r"^FETCH_ALLOW_HOSTS: '.*' is not a host name or "):
        settings(FETCH_ALLOW_HOSTS=raw)


@pytest.mark.parametrize("raw", ["10.0.0.1", "127.1", "*.10.0.0.1", "2130706433"])
def test_allow_host_refuses_addresses(raw: str) -> None:
    with pytest.raises(
        SettingsError, match=r"^FETCH_ALLOW_HOSTS: '.*' is an address: list it in FETCH_ALLOW_CIDRS"
    ):
        settings(FETCH_ALLOW_HOSTS=raw)


def test_secrets_are_not_in_repr() -> None:
    text = repr(settings())
    for secret in SECRETS:
        assert secret not in text
    for name in ("amqp_url", "s3_access_key", "s3_secret_key", "mongo_url"):
        assert f"{name}=" not in text
    assert "s3_endpoint='minio:9000'" in text  # not a secret: still shown


def test_settings_are_frozen() -> None:
    s = settings()
    with pytest.raises(FrozenInstanceError):
        s.prefetch = 1  # type: ignore[misc]


def test_env_mapping_is_not_modified() -> None:
    env = dict(REQUIRED)
    Settings.from_env(env)
    assert env == REQUIRED


def test_output_defaults() -> None:
    s = settings()
    assert s.default_format == "jpeg"
    assert s.background == (255, 255, 255)


@pytest.mark.parametrize(("raw", "expected"), [("webp", "webp"), (" AVIF ", "avif"), ("", "jpeg")])
def test_default_format(raw: str, expected: str) -> None:
    assert settings(DEFAULT_FORMAT=raw).default_format == expected


def test_unknown_default_format() -> None:
    with pytest.raises(SettingsError, match=r"^DEFAULT_FORMAT must be one of jpeg, webp, avif"):
        settings(DEFAULT_FORMAT="png")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("#000000", (0, 0, 0)), ("ff8000", (255, 128, 0)), (" #FFFFFF ", (255, 255, 255))],
)
def test_background(raw: str, expected: tuple[int, int, int]) -> None:
    assert settings(BACKGROUND=raw).background == expected


@pytest.mark.parametrize("raw", ["white", "#fff", "#12345g", "#1234567", "rgb(0,0,0)"])
def test_bad_background(raw: str) -> None:
    with pytest.raises(SettingsError, match=r"^BACKGROUND must be a colour like #ffffff"):
        settings(BACKGROUND=raw)


def test_compress_pixels_in_flight() -> None:
    assert settings().compress_pixels_in_flight == 16_000_000 * available_cpus()
    assert settings(COMPRESS_PIXELS_IN_FLIGHT="5000000").compress_pixels_in_flight == 5_000_000
    with pytest.raises(SettingsError, match=r"^COMPRESS_PIXELS_IN_FLIGHT must be at least 1"):
        settings(COMPRESS_PIXELS_IN_FLIGHT="0")


RETENTION_DAYS = ["RETAIN_ORIGINALS_DAYS", "RETAIN_COMPRESSED_DAYS", "RETAIN_REQUESTS_DAYS"]


def test_retention_defaults_keep_everything_and_leave_objects_to_the_store() -> None:
    s = settings()
    assert (s.retain_originals_days, s.retain_compressed_days, s.retain_requests_days) == (0, 0, 0)
    assert s.sweep_objects is False
    assert s.sweep_interval_s == 3600.0


def test_retention_settings_are_read() -> None:
    s = settings(
        RETAIN_ORIGINALS_DAYS="7",
        RETAIN_COMPRESSED_DAYS=" 30 ",
        RETAIN_REQUESTS_DAYS="90",
        SWEEP_OBJECTS="true",
        SWEEP_INTERVAL_S="600",
    )
    assert (s.retain_originals_days, s.retain_compressed_days, s.retain_requests_days) == (
        7,
        30,
        90,
    )
    assert s.sweep_objects is True
    assert s.sweep_interval_s == 600.0


@pytest.mark.parametrize("name", RETENTION_DAYS)
@pytest.mark.parametrize("raw", ["thirty", "1.5", "7d", "-"])
def test_retention_days_must_be_whole_numbers(name: str, raw: str) -> None:
    with pytest.raises(
        SettingsError, match=rf"^{name} must be an integer, got '{re.escape(raw)}'$"
    ):
        settings(**{name: raw})


@pytest.mark.parametrize("name", RETENTION_DAYS)
def test_retention_days_may_not_be_negative(name: str) -> None:
    with pytest.raises(SettingsError, match=rf"^{name} must be at least 0, got -1$"):
        settings(**{name: "-1"})


def test_sweep_interval_must_be_positive() -> None:
    with pytest.raises(SettingsError, match=r"^SWEEP_INTERVAL_S must be a positive number"):
        settings(SWEEP_INTERVAL_S="0")


def test_amqp_url_may_list_a_clusters_nodes() -> None:
    nodes = "amqp://u:p@rabbit-1:5672/, amqp://u:p@rabbit-2:5672/,amqps://u:p@rabbit-3/"
    assert settings(AMQP_URL=nodes).amqp_url == nodes
    assert amqp_urls(nodes) == (
        "amqp://u:p@rabbit-1:5672/",
        "amqp://u:p@rabbit-2:5672/",
        "amqps://u:p@rabbit-3/",
    )
    assert amqp_urls(REQUIRED["AMQP_URL"]) == (REQUIRED["AMQP_URL"],)


@pytest.mark.parametrize(
    ("raw", "entry"),
    [
        ("amqp://u:secret-pw@rabbit-1/,", "2 of 2"),  # a trailing comma: an empty entry
        ("amqp://u:secret-pw@rabbit-1/,,amqp://rabbit-3/", "2 of 3"),
        ("amqp://u:secret-pw@rabbit-1/,http://rabbit-2/", "2 of 2"),
        ("rabbit-1:5672", "1 of 1"),
        ("amqp:///vhost", "1 of 1"),
    ],
)
def test_bad_amqp_url_names_the_entry_not_the_password(raw: str, entry: str) -> None:
    with pytest.raises(SettingsError) as caught:
        settings(AMQP_URL=raw)
    message = str(caught.value)
    assert message.startswith(f"AMQP_URL entry {entry} ")
    assert "secret-pw" not in message
