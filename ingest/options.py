"""A request's options from text: the upload form's fields, or a dropped CSV's metadata."""

from shared.netguard import BlockedURL, check_url
from shared.records import Options
from shared.rules import FORMAT, QUALITY, RuleError
from shared.settings import Settings


def parse_options(
    quality: str, output_format: str, webhook_url: str, settings: Settings
) -> Options:
    """The options given as text; an empty one takes the service's default.

    Raises RuleError naming the rule a value breaks (shared/rules.py).
    """
    chosen_quality = QUALITY.parse(quality) if quality.strip() else settings.default_quality
    chosen_format = (
        FORMAT.parse(output_format) if output_format.strip() else settings.default_format
    )
    webhook = webhook_url.strip() or None
    if webhook is not None:
        if not webhook.isascii():
            raise RuleError("webhook_url must be ASCII (percent-encode other characters)")
        try:
            check_url(webhook, settings.fetch_allow)
        except BlockedURL as exc:
            raise RuleError(f"webhook_url: {exc}") from None
    return Options(quality=chosen_quality, format=chosen_format, webhook_url=webhook)
