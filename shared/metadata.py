"""What travels on objects from function to function, as user metadata (x-amz-meta-*).

Each function writes the next one's input here and reads its own here, so names, types and
their checks live in one place (like the message schemas in shared/events.py):
- `CsvMeta`: a CSV in the inbox; the gateway sets every field, a CSV dropped straight into
  the bucket may carry any of them (raw text, checked by ingest against shared/rules.py);
- `OriginalMeta`: an original, written by the fetcher for the compressor;
- `CompressedMeta`: a compressed copy, written by the compressor for the notifier;
  `VariantMeta` on each smaller variant of it (which nobody reads but operators).
Names are the fields' in kebab case (`request-id`), as S3 metadata names go; an image's
moments (shared/timeline.py) travel beside them as `t-<moment>`.
"""

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Self

import msgspec

from shared import timeline
from shared.errors import PermanentError
from shared.events import FetchRequested, ObjectCreated
from shared.names import variant_key
from shared.records import Options, Sizes, SourceRecord, StoredVariant, source_id
from shared.rules import (
    AUTO_QUALITY,
    Animation,
    Effort,
    Format,
    Level,
    MetadataMode,
    Quality,
    RuleError,
    parse_widths,
)


class _Meta(msgspec.Struct, frozen=True, kw_only=True, rename="kebab"):
    moments: dict[str, int] = {}

    def to_metadata(self) -> dict[str, str]:
        """The object metadata to store (a field that is None or empty is left out)."""
        fields: dict[str, Any] = msgspec.to_builtins(self)
        fields.pop("moments")
        written = {name: _text(value) for name, value in fields.items() if value not in (None, "")}
        return {**written, **timeline.to_metadata(self.moments)}

    @classmethod
    def read(cls, obj: ObjectCreated) -> Self:
        """The metadata of a stored object; PermanentError if it lacks a field or has a bad one
        (a message that no retry can mend)."""
        return cls.parse(obj.metadata, obj.key)

    @classmethod
    def parse(cls, metadata: Mapping[str, str], key: str) -> Self:
        try:
            meta = msgspec.convert(dict(metadata), cls, strict=False)  # "80" → 80
        except msgspec.ValidationError as exc:
            raise PermanentError(f"{key}: missing or bad metadata: {exc}") from None
        return msgspec.structs.replace(meta, moments=timeline.from_metadata(metadata))

    def with_moments(self, **moments: int) -> Self:
        """The same metadata with more moments."""
        return msgspec.structs.replace(self, moments={**self.moments, **moments})


def _number(value: int | None) -> str:
    return "" if value is None else str(value)


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class CsvMeta(_Meta, frozen=True, kw_only=True):
    request_id: str = ""
    tenant: str = ""
    quality: str = ""
    format: str = ""
    effort: str = ""
    max_bytes: str = ""
    max_width: str = ""
    max_height: str = ""
    widths: str = ""
    metadata: str = ""
    animation: str = ""
    webhook_url: str = ""

    @classmethod
    def of(cls, request_id: str, tenant: str, options: Options) -> "CsvMeta":
        """What the gateway writes on an uploaded CSV: every option, as text."""
        return cls(
            request_id=request_id,
            tenant=tenant,
            quality=str(options.quality),
            format=options.format,
            effort=options.effort,
            max_bytes="" if options.max_bytes is None else str(options.max_bytes),
            max_width=_number(options.sizes.max_width),
            max_height=_number(options.sizes.max_height),
            widths=options.sizes.widths_text(),
            metadata=options.metadata,
            animation=options.animation,
            webhook_url=options.webhook_url or "",
        )

    def options(self) -> dict[str, str]:
        """The options as the form names them (ingest/options.py)."""
        return {
            "quality": self.quality,
            "format": self.format,
            "effort": self.effort,
            "max_bytes": self.max_bytes,
            "max_width": self.max_width,
            "max_height": self.max_height,
            "widths": self.widths,
            "metadata": self.metadata,
            "animation": self.animation,
            "webhook_url": self.webhook_url,
        }


# Longer, or not printable ASCII, and a validator is not kept: it must travel as a header.
_VALIDATOR_CHARS = 256


def header_safe(value: str | None) -> str | None:
    """An origin's validator (ETag, Last-Modified) if it can travel as object metadata."""
    if value and len(value) <= _VALIDATOR_CHARS and value.isascii() and value.isprintable():
        return value
    return None


class _FromSource(_Meta, frozen=True, kw_only=True):
    """Where a tenant's image came from, as its source_id (shared/records.py), and the origin's
    validators for its bytes: recorded with the image when it is done, so that the next fetch
    of the URL asks whether it changed (shared/db/sources.py). Empty without a tenant."""

    source_id: str = ""
    # Not "etag": S3 stores and answers each object's own ETag beside its user metadata.
    origin_etag: str | None = None
    origin_last_modified: str | None = None

    def made_from(
        self,
        tenant: str,
        original_key: str,
        content_type: str,
        sha256: str,
        size: int,
        stored_at: datetime,
    ) -> SourceRecord | None:
        """The source record of the tenant's image made from these bytes (None: no tenant)."""
        if not (tenant and self.source_id and sha256):
            return None
        return SourceRecord(
            id=self.source_id,
            tenant=tenant,
            etag=self.origin_etag,
            last_modified=self.origin_last_modified,
            original_key=original_key,
            content_type=content_type,
            extension=original_key.rsplit(".", 1)[-1],
            sha256=sha256,
            bytes=size,
            stored_at=stored_at,
        )


class OriginalMeta(_FromSource, frozen=True, kw_only=True):
    request_id: str
    image_id: str
    quality: int  # the fixed quality (with a level: the default, for older compressors)
    level: Level | None = None  # quality=auto:<level>
    format: Format = "jpeg"  # originals stored before formats existed were all JPEG requests
    effort: Effort = "balanced"
    max_bytes: int | None = None
    max_width: int | None = None
    max_height: int | None = None
    widths: str = ""  # "320,640" (shared/rules.py parse_widths)
    metadata: MetadataMode = "none"
    animation: Animation = "first"
    revalidated: bool = False  # the origin answered 304: this is the stored original again
    tenant: str = ""  # whose earlier outputs the compressor may reuse ("": none)

    @classmethod
    def of_fetch(
        cls,
        message: FetchRequested,
        revalidated: bool,
        moments: dict[str, int],
        etag: str | None = None,
        last_modified: str | None = None,
    ) -> "OriginalMeta":
        """What the compressor is asked to make of a fetched image (its settings travel on),
        the origin having given `etag` and `last_modified` for it."""
        tenant = message.tenant
        return cls(
            source_id=source_id(tenant, message.url) if tenant else "",
            origin_etag=header_safe(etag) if tenant else None,
            origin_last_modified=header_safe(last_modified) if tenant else None,
            request_id=message.request_id,
            image_id=message.image_id,
            quality=message.quality,
            level=message.level or None,
            format=message.format,
            effort=message.effort,
            max_bytes=message.max_bytes or None,
            max_width=message.max_width or None,
            max_height=message.max_height or None,
            widths=message.widths,
            metadata=message.metadata,
            animation=message.animation,
            revalidated=revalidated,
            tenant=message.tenant,
            moments=moments,
        )

    @property
    def wanted(self) -> Quality:
        """The quality to compress with: the fixed number, or auto:<level>."""
        return self.quality if self.level is None else AUTO_QUALITY[self.level]

    @property
    def sizes(self) -> Sizes:
        """The sizes asked for (checked by the gateway; a bad list here is a PermanentError)."""
        try:
            widths = parse_widths(self.widths) if self.widths else ()
        except RuleError as exc:
            raise PermanentError(f"original {self.image_id}: {exc}") from None
        return Sizes(max_width=self.max_width, max_height=self.max_height, widths=widths)


class VariantMeta(_Meta, frozen=True, kw_only=True):
    """A srcset variant, written before its output (which lists it in CompressedMeta)."""

    request_id: str
    image_id: str
    width: int


class CompressedMeta(_FromSource, frozen=True, kw_only=True):
    request_id: str
    image_id: str
    source_bytes: int
    original_key: str | None = None
    # A tenant's image: the source's SHA-256 and type, and the result id of the output's
    # settings (shared/reuse.py), recorded with the image for later requests to reuse.
    tenant: str = ""
    sha256: str = ""
    source_type: str = ""
    result_id: str = ""
    # None on objects written before the compressor recorded format and quality.
    format: Format | None = None
    quality: int | None = None
    kept_source: bool = False
    score: float | None = None  # SSIMULACRA2 its search measured (quality=auto)
    score_whole: bool | None = None  # on the whole image (else on its tile sample)
    width: int | None = None
    height: int | None = None
    frames: int | None = None
    revalidated: bool = False  # its original was revalidated (304), not downloaded
    # The variants written before this object: "320x180:6134,640x360:16584" (width x height:
    # bytes), each at names.variant_key(this key, width).
    variants: str = ""

    def source(self, stored_at: datetime) -> SourceRecord | None:
        """What the image was made from, for the tenant's next fetch of its URL."""
        if not self.original_key:
            return None
        return self.made_from(
            self.tenant, self.original_key, self.source_type, self.sha256, self.source_bytes,
            stored_at,
        )  # fmt: skip

    def stored_variants(self, key: str) -> tuple[StoredVariant, ...]:
        """The variants of the output stored at `key`; PermanentError for a garbled list."""
        out = []
        try:
            for item in filter(None, self.variants.split(",")):
                size, _, length = item.partition(":")
                width, _, height = size.partition("x")
                out.append(
                    StoredVariant(
                        key=variant_key(key, int(width)),
                        width=int(width),
                        height=int(height),
                        bytes=int(length),
                    )
                )
        except ValueError:
            raise PermanentError(f"{key}: bad variants metadata {self.variants[:80]!r}") from None
        return tuple(out)
