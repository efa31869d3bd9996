"""Outputs reused across requests (issue 14): the same source bytes with the same settings.

A result is found by the tenant, the SHA-256 of the original's bytes and every setting that
shapes the output (quality or level, format, effort, size ceiling, sizes, metadata policy,
animation, background): a changed image, or other settings, make another id, so they are
compressed. Reuse never crosses tenants (the tenant is part of the id, and nothing tells one
tenant what another stored). A result whose objects are gone (deleted with their request) is
not reused. The source's length is kept beside its hash and checked too.
"""

import hashlib
from datetime import UTC, datetime

import msgspec

from compressor.compress import Compressed, Variant
from shared.metadata import OriginalMeta
from shared.names import COMPRESSED_BUCKET
from shared.records import ResultRecord, StoredVariant
from shared.storage import ObjectStore


def source_digest(source: bytes) -> str:
    """The SHA-256 of the source bytes: hashed once per image, used for the id and the check."""
    return hashlib.sha256(source).hexdigest()


def result_id(
    tenant: str, digest: str, original: OriginalMeta, background: tuple[int, int, int]
) -> str:
    settings = {
        "quality": original.wanted,
        "format": original.format,
        "effort": original.effort,
        "max_bytes": original.max_bytes,
        "sizes": original.sizes,
        "metadata": original.metadata,
        "animation": original.animation,
        "background": background,
    }
    key = hashlib.sha256(f"{tenant}\0{digest}".encode())
    key.update(msgspec.json.encode(settings))
    return key.hexdigest()[:32]


async def recall(
    found: ResultRecord, digest: str, size: int, store: ObjectStore
) -> Compressed | None:
    """The stored output as compress() made it, or None when its objects are gone."""
    if found.source_bytes != size or found.source_sha256 != digest:
        return None
    data = await store.get_if_exists(COMPRESSED_BUCKET, found.compressed_key)
    variants = []
    for variant in found.variants:
        pixels = await store.get_if_exists(COMPRESSED_BUCKET, variant.key)
        if pixels is None:
            return None
        variants.append(Variant(variant.width, variant.height, pixels))
    if data is None:
        return None
    return Compressed(
        data,
        found.width,
        found.height,
        found.source_format,
        found.content_type,
        found.format,
        found.quality,
        kept_source=found.kept_source,
        score=found.score,
        score_whole=found.score_whole,
        variants=tuple(variants),
        frames=found.frames,
    )


def record_of(
    result_id: str,
    tenant: str,
    digest: str,
    size: int,
    result: Compressed,
    key: str,
    variant_keys: list[str],
) -> ResultRecord:
    """What to remember of an output just stored at `key` (its variants at `variant_keys`)."""
    return ResultRecord(
        id=result_id,
        tenant=tenant,
        source_sha256=digest,
        source_bytes=size,
        compressed_key=key,
        variants=tuple(
            StoredVariant(key=k, width=v.width, height=v.height, bytes=len(v.data))
            for k, v in zip(variant_keys, result.variants, strict=True)
        ),
        format=result.format,
        content_type=result.content_type,
        source_format=result.source_format,
        quality=result.quality,
        kept_source=result.kept_source,
        score=result.score,
        score_whole=result.score_whole,
        width=result.width,
        height=result.height,
        frames=result.frames,
        stored_at=datetime.now(UTC),
    )
