"""Outputs reused across a tenant's requests (issue 14): the same source bytes, same settings.

A result is found by the tenant, the SHA-256 of the original's bytes and every setting that
shapes the output (quality or level, format, effort, size ceiling, sizes, metadata policy,
animation, background): a changed image, or other settings, make another id, so they are
compressed. Reuse never crosses tenants (the tenant is part of the id, and nothing tells one
tenant what another stored). The source's length is kept beside its hash and checked too.

A reused output is the stored one itself, not a copy: the image's record points at the
objects the earlier request made (deleting that request keeps what others still use). The
fetcher finds one after a 304 (the source record knows the bytes' hash), the compressor for
the same bytes at another URL; either checks the objects are still there.
"""

import hashlib
from datetime import datetime, timedelta

import msgspec

from shared.metadata import OriginalMeta
from shared.names import COMPRESSED_BUCKET
from shared.records import Output, ResultRecord
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


def reusable(found: ResultRecord, digest: str, size: int, now: datetime, keep_days: int) -> bool:
    """Whether a stored result may stand for this source: the same bytes, and (with
    RETAIN_COMPRESSED_DAYS) made less than half the retention ago, so that a link handed out
    now lasts at least half the days its request promises; older ones are made again."""
    if found.source_sha256 != digest or found.source_bytes != size:
        return False
    return keep_days == 0 or found.stored_at > now - timedelta(days=keep_days / 2)


async def stored_output(
    found: ResultRecord,
    original_key: str | None,
    store: ObjectStore,
    *,
    revalidated: bool,
    moments: dict[str, int],
) -> Output | None:
    """The image's output as the stored result, if its objects are all still there (a deleted
    request, or the object store's own expiry, may have taken them)."""
    output = await store.describe(COMPRESSED_BUCKET, found.compressed_key)
    for variant in found.variants:
        if output is None:
            return None
        output = output if await store.describe(COMPRESSED_BUCKET, variant.key) else None
    if output is None:
        return None
    return Output(
        compressed_key=found.compressed_key,
        original_key=original_key,
        bytes_in=found.source_bytes,
        bytes_out=output.size,
        format=found.format,
        quality=found.quality,
        kept_source=found.kept_source,
        score=found.score,
        score_whole=found.score_whole,
        width=found.width,
        height=found.height,
        frames=found.frames,
        variants=found.variants,
        revalidated=revalidated,
        reused=True,
        made_at=found.stored_at,
        moments=moments,
    )
