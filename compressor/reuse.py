"""What the compressor remembers of an output it made, for later requests to reuse
(shared/reuse.py finds and checks it)."""

from datetime import UTC, datetime

from compressor.compress import Compressed
from shared.records import ResultRecord, StoredVariant


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
