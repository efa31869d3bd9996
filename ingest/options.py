"""A request's options from text: the upload form's fields, or a dropped CSV's metadata."""

from collections.abc import Mapping

from shared.netguard import BlockedURL, check_url
from shared.records import Options, Sizes
from shared.rules import (
    ANIMATION,
    EFFORT,
    FORMAT,
    MAX_BYTES,
    MAX_HEIGHT,
    MAX_WIDTH,
    METADATA,
    RuleError,
    check_animation,
    check_sizes,
    parse_quality,
    parse_widths,
)
from shared.settings import Settings

# The form's field names (a dropped CSV's metadata uses the same, with dashes).
FIELDS = (
    "quality",
    "format",
    "effort",
    "max_bytes",
    "max_width",
    "max_height",
    "widths",
    "metadata",
    "animation",
    "webhook_url",
)


def parse_options(given: Mapping[str, str], settings: Settings) -> Options:
    """The options named in `given` (FIELDS; a missing or empty one takes the default).

    Raises RuleError naming the rule a value breaks (shared/rules.py), checked in FIELDS'
    order.
    """

    def text(name: str) -> str:
        return given.get(name, "").strip()

    quality = parse_quality(text("quality")) if text("quality") else settings.default_quality
    output_format = FORMAT.parse(text("format")) if text("format") else settings.default_format
    effort = EFFORT.parse(text("effort")) if text("effort") else EFFORT.default
    max_bytes = MAX_BYTES.parse(text("max_bytes")) if text("max_bytes") else None
    sizes = Sizes(
        max_width=MAX_WIDTH.parse(text("max_width")) if text("max_width") else None,
        max_height=MAX_HEIGHT.parse(text("max_height")) if text("max_height") else None,
        widths=parse_widths(text("widths")) if text("widths") else (),
    )
    check_sizes(output_format, sizes.max_width, sizes.max_height, sizes.widths)
    metadata = METADATA.parse(text("metadata")) if text("metadata") else METADATA.default
    animation = ANIMATION.parse(text("animation")) if text("animation") else ANIMATION.default
    check_animation(animation, output_format)
    webhook = text("webhook_url") or None
    if webhook is not None:
        if not webhook.isascii():
            raise RuleError("webhook_url must be ASCII (percent-encode other characters)")
        try:
            check_url(webhook, settings.fetch_allow)
        except BlockedURL as exc:
            raise RuleError(f"webhook_url: {exc}") from None
    return Options(
        quality=quality,
        format=output_format,
        effort=effort,
        max_bytes=max_bytes,
        sizes=sizes,
        metadata=metadata,
        animation=animation,
        webhook_url=webhook,
    )
