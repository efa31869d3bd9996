"""One frozen Settings object per process, built from an environment mapping.

`Settings.from_env(os.environ)` in each `main`; tests pass a plain dict. A missing required key
stops startup with a clear message; secrets never appear in repr or logs.
"""

import base64
import binascii
import ipaddress
import math
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from shared.cpus import available_cpus
from shared.retry import DEFAULT_DELAYS_S
from shared.rules import FORMAT, QUALITY, Format, RuleError

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# One FETCH_ALLOW_HOSTS entry (lower case, final dot dropped): a name, or "*." and a domain.
_HOST_PATTERN = re.compile(r"(\*\.)?[a-z0-9_-]+(\.[a-z0-9_-]+)*")


class SettingsError(Exception):
    """The environment does not describe a usable configuration."""


# How to reach the servers: every function needs all of them (the keys command only MongoDB).
SERVERS = ("AMQP_URL", "S3_ENDPOINT", "S3_ACCESS_KEY", "S3_SECRET_KEY", "MONGO_URL")


@dataclass(frozen=True)
class Allowlist:
    """What user-supplied URLs may reach despite the SSRF guard (shared/netguard.py).

    `networks`: addresses allowed whatever the host name; `hosts`: names (lower case) whose
    addresses are all allowed, "*.example.internal" meaning every subdomain of it. Cloud
    metadata addresses stay refused either way.
    """

    networks: tuple[IPNetwork, ...] = ()
    hosts: tuple[str, ...] = ()

    def covers_host(self, host: str) -> bool:
        """True if `host` (a name as in a URL, any case, maybe with a final dot) is listed."""
        name = host.lower().rstrip(".")
        return any(
            name.endswith(entry[1:]) if entry.startswith("*.") else name == entry
            for entry in self.hosts
        )


@dataclass(frozen=True)
class Settings:
    # One broker URL, or a cluster's nodes' URLs separated by commas (amqp_urls); passwords.
    amqp_url: str = field(repr=False)
    s3_endpoint: str  # host:port the services use
    s3_access_key: str = field(repr=False)
    s3_secret_key: str = field(repr=False)
    mongo_url: str = field(repr=False)
    # Signs webhooks (Standard Webhooks, "whsec_" + base64); required by the notifier.
    webhook_secret: str = field(repr=False, default="")
    s3_secure: bool = False
    # What users' output links point at; defaults to the internal endpoint.
    s3_public_endpoint: str = ""
    s3_public_secure: bool = False
    s3_region: str = "us-east-1"
    mongo_db: str = "imgpipe"
    # Base URL users reach the gateway at (webhook payloads carry download links under it).
    public_base_url: str = "http://127.0.0.1:8000"
    # Where the gateway listens (python -m ingest.gateway).
    gateway_host: str = "127.0.0.1"
    gateway_port: int = 8000
    prefetch: int = 16
    default_quality: int = QUALITY.default
    # Output format of requests that name none (shared/rules.py FORMAT).
    default_format: Format = FORMAT.default
    # What transparent pixels are composited on (JPEG has no alpha), as RGB.
    background: tuple[int, int, int] = (255, 255, 255)
    # Uploads stream (ingest/uploads.py), so these bound work and disk, not the gateway's memory.
    max_csv_bytes: int = 100 * 1024 * 1024
    max_csv_rows: int = 1_000_000
    max_urls_per_row: int = 50
    max_url_length: int = 2048
    # Requests with at least this many images are fetched in a bulk lane (shared/names.py).
    bulk_request_images: int = 1000
    # Bulk-lane fetches wait while the compressor's queue holds more originals than this
    # (fetcher/backpressure.py); from_env makes it 2 × prefetch unless set.
    bulk_pause_backlog: int = 32
    max_image_bytes: int = 25 * 1024 * 1024
    max_image_pixels: int = 64_000_000
    # Pixels the compressor works on at once (its memory: ~7 bytes a pixel at the peak): a
    # 16 MP photo per core by default, so the cores stay busy with big photos.
    compress_pixels_in_flight: int = 16_000_000 * available_cpus()
    fetch_timeout_s: float = 30.0
    webhook_timeout_s: float = 10.0
    output_url_expiry_s: int = 7 * 24 * 3600
    # Image and webhook URLs may not reach loopback/private addresses unless listed here.
    fetch_allow_cidrs: tuple[IPNetwork, ...] = ()
    # Host names (or "*.domain") whose URLs may reach any address but metadata (Allowlist).
    fetch_allow_hosts: tuple[str, ...] = ()
    # The reconciler (notifier/reconcile.py): how often it looks, how long a request may make
    # no progress before its missing steps are re-issued, and before it is given up.
    reconcile_interval_s: float = 60.0
    stuck_after_s: float = 300.0
    request_deadline_s: float = 3600.0
    # Retention (shared/retention.py): days originals, compressed copies and finished requests
    # are kept; 0 keeps them forever. A request's stored CSV goes with the request.
    retain_originals_days: int = 0
    retain_compressed_days: int = 0
    retain_requests_days: int = 0
    # Whether the reconciler deletes expired originals and compressed copies itself: for a
    # store without lifecycle rules (the local stack's SeaweedFS); MinIO's ILM does it in
    # compose. Requests are swept either way (MongoDB has no rule that spans collections).
    sweep_objects: bool = False
    # How often the retention sweep runs (a pass with more left continues at the next round).
    sweep_interval_s: float = 3600.0
    log_level: str = "INFO"
    # Prometheus metrics of a consumer function (port 0: none; the gateway serves /metrics).
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 0
    # Backoff before each retry of a transiently failed message; len + 1 attempts in all.
    retry_delays_s: tuple[float, ...] = DEFAULT_DELAYS_S

    @property
    def fetch_allow(self) -> Allowlist:
        """The SSRF guard's exemptions, for every check of a user-supplied URL."""
        return Allowlist(self.fetch_allow_cidrs, self.fetch_allow_hosts)

    @classmethod
    def from_env(cls, env: Mapping[str, str], require: Collection[str] = SERVERS) -> "Settings":
        """The settings in `env`; each variable in `require` must be set (a process that talks
        to fewer servers, like `python -m ingest.keys`, requires fewer)."""
        for name in require:
            if not env.get(name, "").strip():
                raise SettingsError(f"environment variable {name} is required")

        def text(name: str) -> str:
            return env.get(name, "").strip()

        def integer(name: str, default: int, low: int = 1, high: int | None = None) -> int:
            raw = env.get(name, "").strip()
            try:
                value = int(raw) if raw else default
            except ValueError:
                raise SettingsError(f"{name} must be an integer, got {raw!r}") from None
            if value < low or (high is not None and value > high):
                bounds = f"from {low} to {high}" if high is not None else f"at least {low}"
                raise SettingsError(f"{name} must be {bounds}, got {value}")
            return value

        def seconds(name: str, default: float) -> float:
            raw = env.get(name, "").strip()
            try:
                value = float(raw) if raw else default
            except ValueError:
                raise SettingsError(f"{name} must be a number of seconds, got {raw!r}") from None
            if not (math.isfinite(value) and value > 0):
                raise SettingsError(f"{name} must be a positive number of seconds, got {raw!r}")
            return value

        def flag(name: str, default: bool = False) -> bool:
            raw = env.get(name, "").strip().lower()
            if not raw:
                return default
            if raw in ("1", "true", "yes", "on"):
                return True
            if raw in ("0", "false", "no", "off"):
                return False
            raise SettingsError(f"{name} must be true or false, got {raw!r}")

        def delays(name: str) -> tuple[float, ...]:
            raw = env.get(name, "").strip()
            if not raw:
                return DEFAULT_DELAYS_S
            try:
                values = tuple(float(part) for part in raw.split(","))
            except ValueError:
                raise SettingsError(f"{name} must be seconds separated by commas") from None
            if not all(math.isfinite(v) and v > 0 for v in values):
                raise SettingsError(f"{name} must be positive numbers of seconds, got {raw!r}")
            return values

        s3_endpoint = text("S3_ENDPOINT")
        s3_secure = flag("S3_SECURE")
        prefetch = integer("PREFETCH", cls.prefetch)
        try:
            cidrs = tuple(
                ipaddress.ip_network(c.strip(), strict=False)
                for c in env.get("FETCH_ALLOW_CIDRS", "").split(",")
                if c.strip()
            )
        except ValueError as exc:
            raise SettingsError(f"FETCH_ALLOW_CIDRS: {exc}") from None
        if text("AMQP_URL"):
            amqp_urls(text("AMQP_URL"))  # fails now, not at the first connection
        return cls(
            amqp_url=text("AMQP_URL"),
            s3_endpoint=s3_endpoint,
            s3_access_key=text("S3_ACCESS_KEY"),
            s3_secret_key=text("S3_SECRET_KEY"),
            s3_secure=s3_secure,
            s3_public_endpoint=env.get("S3_PUBLIC_ENDPOINT", "").strip() or s3_endpoint,
            s3_public_secure=flag("S3_PUBLIC_SECURE", s3_secure),
            s3_region=env.get("S3_REGION", "").strip() or "us-east-1",
            mongo_url=text("MONGO_URL"),
            webhook_secret=webhook_secret(env.get("WEBHOOK_SECRET", "").strip()),
            mongo_db=env.get("MONGO_DB", "").strip() or "imgpipe",
            public_base_url=(env.get("PUBLIC_BASE_URL", "").strip() or cls.public_base_url).rstrip(
                "/"
            ),
            gateway_host=env.get("GATEWAY_HOST", "").strip() or cls.gateway_host,
            gateway_port=integer("GATEWAY_PORT", cls.gateway_port, high=65535),
            prefetch=prefetch,
            default_quality=integer(
                "DEFAULT_QUALITY", cls.default_quality, QUALITY.low, QUALITY.high
            ),
            default_format=output_format(env.get("DEFAULT_FORMAT", "")),
            background=rgb_colour("BACKGROUND", env.get("BACKGROUND", "").strip()),
            max_csv_bytes=integer("MAX_CSV_BYTES", cls.max_csv_bytes),
            max_csv_rows=integer("MAX_CSV_ROWS", cls.max_csv_rows),
            max_urls_per_row=integer("MAX_URLS_PER_ROW", cls.max_urls_per_row),
            max_url_length=integer("MAX_URL_LENGTH", cls.max_url_length),
            bulk_request_images=integer("BULK_REQUEST_IMAGES", cls.bulk_request_images),
            # Two compressor windows: enough that the compressors never wait while held fetches
            # resume, few enough that a small request's originals queue behind little.
            bulk_pause_backlog=integer("BULK_PAUSE_BACKLOG", 2 * prefetch),
            max_image_bytes=integer("MAX_IMAGE_BYTES", cls.max_image_bytes),
            max_image_pixels=integer("MAX_IMAGE_PIXELS", cls.max_image_pixels),
            compress_pixels_in_flight=integer(
                "COMPRESS_PIXELS_IN_FLIGHT", cls.compress_pixels_in_flight
            ),
            fetch_timeout_s=seconds("FETCH_TIMEOUT_S", cls.fetch_timeout_s),
            webhook_timeout_s=seconds("WEBHOOK_TIMEOUT_S", cls.webhook_timeout_s),
            output_url_expiry_s=integer("OUTPUT_URL_EXPIRY_S", cls.output_url_expiry_s),
            fetch_allow_cidrs=cidrs,
            fetch_allow_hosts=allow_hosts(env.get("FETCH_ALLOW_HOSTS", "")),
            retry_delays_s=delays("RETRY_DELAYS_S"),
            log_level=env.get("LOG_LEVEL", "").strip().upper() or "INFO",
            metrics_host=env.get("METRICS_HOST", "").strip() or "127.0.0.1",
            metrics_port=integer("METRICS_PORT", 0, low=0, high=65535),
            reconcile_interval_s=seconds("RECONCILE_INTERVAL_S", cls.reconcile_interval_s),
            stuck_after_s=seconds("STUCK_AFTER_S", cls.stuck_after_s),
            request_deadline_s=seconds("REQUEST_DEADLINE_S", cls.request_deadline_s),
            retain_originals_days=integer("RETAIN_ORIGINALS_DAYS", 0, low=0),
            retain_compressed_days=integer("RETAIN_COMPRESSED_DAYS", 0, low=0),
            retain_requests_days=integer("RETAIN_REQUESTS_DAYS", 0, low=0),
            sweep_objects=flag("SWEEP_OBJECTS"),
            sweep_interval_s=seconds("SWEEP_INTERVAL_S", cls.sweep_interval_s),
        )


def amqp_urls(raw: str) -> tuple[str, ...]:
    """Split AMQP_URL: one URL, or several separated by commas (one per node of a cluster,
    all with the same user and vhost); clients connect to the first that answers."""
    urls = tuple(part.strip() for part in raw.split(","))
    for n, url in enumerate(urls, 1):
        parts = urlsplit(url)
        # The URL itself is not quoted: it may carry a password.
        if parts.scheme not in ("amqp", "amqps") or not parts.hostname:
            raise SettingsError(
                f"AMQP_URL entry {n} of {len(urls)} is not an amqp:// or amqps:// URL with a host"
            )
    return urls


def allow_hosts(raw: str) -> tuple[str, ...]:
    """Parse FETCH_ALLOW_HOSTS: host names separated by commas, each maybe "*." + a domain."""
    hosts = []
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        entry = part.lower().rstrip(".")
        if not _HOST_PATTERN.fullmatch(entry):
            raise SettingsError(f"FETCH_ALLOW_HOSTS: {part!r} is not a host name or *.domain")
        if entry.rsplit(".", 1)[-1].isdigit():
            # An address (the guard refuses URLs that spell one as a name): that is a CIDR.
            raise SettingsError(
                f"FETCH_ALLOW_HOSTS: {part!r} is an address: list it in FETCH_ALLOW_CIDRS"
            )
        hosts.append(entry)
    return tuple(hosts)


def output_format(raw: str) -> Format:
    """Parse DEFAULT_FORMAT: one of FORMAT's choices (empty: JPEG)."""
    if not raw.strip():
        return FORMAT.default
    try:
        return FORMAT.parse(raw, "DEFAULT_FORMAT")
    except RuleError as exc:
        raise SettingsError(str(exc)) from None


def rgb_colour(name: str, raw: str) -> tuple[int, int, int]:
    """Parse a colour given as "#rrggbb" (or "rrggbb"); empty: white."""
    if not raw:
        return (255, 255, 255)
    digits = raw.removeprefix("#")
    if not re.fullmatch(r"[0-9a-fA-F]{6}", digits):
        raise SettingsError(f"{name} must be a colour like #ffffff, got {raw!r}")
    return (int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16))


def webhook_secret(raw: str) -> str:
    """Check a Standard Webhooks secret: "whsec_" + base64 of at least 24 random bytes."""
    if not raw:
        return ""
    try:
        key = base64.b64decode(raw.removeprefix("whsec_"), validate=True)
    except binascii.Error:
        raise SettingsError("WEBHOOK_SECRET must be whsec_ followed by base64") from None
    if len(key) < 24:
        raise SettingsError("WEBHOOK_SECRET is too short: use at least 24 random bytes")
    return raw


def csv_limits(settings: Settings) -> dict[str, int]:
    """The keyword arguments that bound a CSV's parse (ingest/csvfile.py parse_rows)."""
    return {
        "max_rows": settings.max_csv_rows,
        "max_urls_per_row": settings.max_urls_per_row,
        "max_url_length": settings.max_url_length,
    }
