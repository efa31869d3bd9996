"""The rules a request's options and the service's ids follow, each defined once.

The gateway's form, a dropped CSV's metadata, the compressor, the settings, the CLI, the web
page (through the OpenAPI document) and the OpenAPI document itself all read them from here,
so a rule and its message cannot drift apart between them.
"""

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, Literal, TypeVar, get_args

T = TypeVar("T", bound=str)


class RuleError(ValueError):
    """A value breaks a rule; the message names the rule and is fit to show the user."""


@dataclass(frozen=True)
class WholeNumber:
    """A whole number from `low` to `high`, given as text (a form field, object metadata)."""

    name: str
    low: int
    high: int
    default: int

    def parse(self, raw: str, name: str = "") -> int:
        """The number in `raw`; `name` replaces the rule's own in messages (a setting's)."""
        try:
            value = int(raw.strip())
        except ValueError:
            raise RuleError(
                f"{name or self.name} must be a whole number from {self.low} to {self.high}, "
                f"got {raw.strip()[:20]!r}"
            ) from None
        return self.check(value, name)

    def check(self, value: int, name: str = "") -> int:
        if not self.low <= value <= self.high:
            raise RuleError(
                f"{name or self.name} must be from {self.low} to {self.high}, got {value}"
            )
        return value


@dataclass(frozen=True)
class OneOf(Generic[T]):
    """One of a few names, matched case-insensitively."""

    name: str
    choices: tuple[T, ...]
    default: T

    def parse(self, raw: str, name: str = "") -> T:
        """The choice `raw` names; `name` replaces the rule's own in messages (a setting's)."""
        value = raw.strip().lower()
        for choice in self.choices:
            if choice == value:
                return choice
        raise RuleError(
            f"{name or self.name} must be one of {', '.join(self.choices)}, "
            f"got {raw.strip()[:20]!r}"
        )


@dataclass(frozen=True)
class Pattern:
    """Text that matches a regular expression (ids, tenant names)."""

    name: str
    regex: str
    description: str  # what a person should type, for messages and the OpenAPI document

    def matches(self, raw: str) -> bool:
        return re.fullmatch(self.regex, raw) is not None


# Encoder quality, as Pillow's JPEG, WebP and AVIF encoders take it; 50 is the seed's setting.
QUALITY = WholeNumber("quality", 1, 95, default=50)

# Perceptual levels: `quality=auto:<level>` gives each image the smallest encoding whose
# SSIMULACRA2 score (against the prepared source) is at least the level's. Chosen from
# measurement (docs/benchmarks.md): the seed's fixed quality 50 reaches 45-71 across the corpus
# (mean 61); low = 60 guarantees that average on every image, medium = 70 is the metric's
# "high quality" (artefacts hard to notice without comparing) and what the seed's best image
# got, high = 80 is "very high" (not distinguishable side by side at 1:1).
Level = Literal["high", "medium", "low"]
LEVELS: dict[Level, float] = {"high": 80.0, "medium": 70.0, "low": 60.0}
# A request's quality: a fixed number (today's meaning), or a level ("auto:medium").
AutoQuality = Literal["auto:high", "auto:medium", "auto:low"]
Quality = int | AutoQuality
AUTO_LEVELS: dict[AutoQuality, Level] = {
    "auto:high": "high",
    "auto:medium": "medium",
    "auto:low": "low",
}
AUTO_QUALITY: dict[Level, AutoQuality] = {level: q for q, level in AUTO_LEVELS.items()}
AUTO_SPELLINGS: dict[str, AutoQuality] = {"auto": "auto:medium", **{q: q for q in AUTO_LEVELS}}


def parse_quality(raw: str) -> Quality:
    """A quality as text: a whole number from 1 to 95, `auto` (auto:medium) or auto:<level>."""
    text = raw.strip().lower()
    if text in AUTO_SPELLINGS:
        return AUTO_SPELLINGS[text]
    if text.startswith("auto") or not text.lstrip("+-").isdigit():
        raise RuleError(
            f"{QUALITY.name} must be a whole number from {QUALITY.low} to {QUALITY.high} "
            f"or one of {', '.join(AUTO_SPELLINGS)}, got {raw.strip()[:20]!r}"
        )
    return QUALITY.parse(text)


def level_of(quality: Quality) -> Level | None:
    """The perceptual level of an auto:<level> quality; None for a fixed number."""
    return None if isinstance(quality, int) else AUTO_LEVELS[quality]


# How hard the encoder works (like sharp's effort, WebP's method, AVIF's speed).
Effort = Literal["fast", "balanced", "max"]
EFFORT: OneOf[Effort] = OneOf("effort", get_args(Effort), default="balanced")
# A ceiling on each image's output size.
MAX_BYTES = WholeNumber("max_bytes", 1, 1_000_000_000, default=0)
# Output formats a request may ask for; the compressor writes each (compressor/compress.py).
Format = Literal["jpeg", "webp", "avif", "jxl"]
FORMAT: OneOf[Format] = OneOf("format", get_args(Format), default="jpeg")
# The longest side each format can hold: libjpeg's JPEG_MAX_DIMENSION, WebP's 14-bit sizes,
# the 16384 libavif/aom (and browsers) support for AVIF; JPEG XL holds 2^30 - 1, the service
# stops at JPEG's 65,500.
LARGEST_SIDE: dict[Format, int] = {"jpeg": 65_500, "webp": 16_383, "avif": 16_384, "jxl": 65_500}

# What metadata each output carries (compressor/metadata.py): none (default), the copyright
# fields, the EXIF block without GPS and serial numbers plus the ICC profile, or all of it.
MetadataMode = Literal["none", "copyright", "keep", "all"]
METADATA: OneOf[MetadataMode] = OneOf("metadata", get_args(MetadataMode), default="none")

# An animated source (GIF, WebP): its first frame (default), or every frame and its timing
# as an animated WebP or AVIF, within MAX_FRAMES and the pixel limit summed over frames.
Animation = Literal["first", "keep"]
ANIMATION: OneOf[Animation] = OneOf("animation", get_args(Animation), default="first")
ANIMATED_FORMATS: tuple[Format, ...] = ("webp", "avif")
MAX_FRAMES = 1_000


def check_animation(animation: Animation, output: Format) -> None:
    """That `output` can hold an animation when one is to be kept."""
    if animation == "keep" and output not in ANIMATED_FORMATS:
        raise RuleError(
            f"animation=keep needs format {' or '.join(ANIMATED_FORMATS)} (an animated "
            f"image), got {output}"
        )


# Sizes: a bound on the main output's sides (never upscaled), and up to MAX_WIDTHS extra
# variants of the given widths, aspect kept (for an HTML srcset).
MAX_WIDTH = WholeNumber("max_width", 1, max(LARGEST_SIDE.values()), default=0)
MAX_HEIGHT = WholeNumber("max_height", 1, max(LARGEST_SIDE.values()), default=0)
WIDTH = WholeNumber("widths", 1, max(LARGEST_SIDE.values()), default=0)
MAX_WIDTHS = 8


def parse_widths(raw: str) -> tuple[int, ...]:
    """Comma-separated variant widths ("320,640,1280"), each once; returned in rising order."""
    items = [item.strip() for item in raw.split(",")]
    if len(items) > MAX_WIDTHS:
        raise RuleError(f"widths: at most {MAX_WIDTHS} widths, got {len(items)}")
    widths: set[int] = set()
    for item in items:
        if not item:
            raise RuleError(f"widths must be whole numbers separated by commas, got {raw[:40]!r}")
        width = WIDTH.parse(item)
        if width in widths:
            raise RuleError(f"widths: {width} is given twice")
        widths.add(width)
    return tuple(sorted(widths))


def check_sizes(
    output: Format, max_width: int | None, max_height: int | None, widths: tuple[int, ...]
) -> None:
    """That `output` can hold every size asked for (RuleError naming the format's limit)."""
    largest = LARGEST_SIDE[output]
    for name, value in (("max_width", max_width), ("max_height", max_height)):
        if value is not None and value > largest:
            raise RuleError(f"{name}={value}: {output} holds at most {largest} px a side")
    if widths and widths[-1] > largest:
        raise RuleError(f"widths: {widths[-1]} is wider than {output} holds ({largest} px)")


# A request id: the gateway's uuid4, or the uuid5 of a dropped CSV's object version.
REQUEST_ID = Pattern("request_id", r"[0-9a-f]{32}", "32 lower-case hex digits")
TENANT = Pattern(
    "tenant", r"[a-z0-9][a-z0-9-]{0,62}", "lower-case letters, digits and dashes (1 to 63)"
)
# The public name of an API key: the first 12 hex digits of its hash (ingest/auth.py).
KEY_ID = Pattern("key id", r"[0-9a-f]{12}", "the 12 hex characters `keys list` shows")
IDEMPOTENCY_KEY_MAX = 255


def check_idempotency_key(raw: str) -> str:
    """An upload's Idempotency-Key header, trimmed: 1 to 255 visible ASCII characters."""
    key = raw.strip()
    if not key or len(key) > IDEMPOTENCY_KEY_MAX or not key.isascii() or not key.isprintable():
        raise RuleError(
            f"Idempotency-Key must be 1 to {IDEMPOTENCY_KEY_MAX} visible ASCII characters"
        )
    return key


# RFC 3339 date-time, as OpenAPI's "date-time" means it (and as every created_at is written).
_DATE_TIME = re.compile(r"\d{4}-\d\d-\d\d[Tt]\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)")


def date_time(raw: str, name: str) -> datetime:
    """An RFC 3339 time with its UTC offset (e.g. a request's created_at)."""
    try:
        if _DATE_TIME.fullmatch(raw):
            return datetime.fromisoformat(raw.upper().replace("Z", "+00:00"))
    except ValueError:
        pass
    raise RuleError(f"{name} must be an ISO 8601 time with its offset (a created_at)")
