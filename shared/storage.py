"""The object store (MinIO in production, any S3 locally), through the `minio` SDK.

The SDK is synchronous; its calls run in worker threads so the event loop (and the broker
heartbeat) keeps going. One client per process: urllib3's connection pool is thread-safe.
"""

import asyncio
import io
import itertools
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import BinaryIO, Protocol

import urllib3
from minio import Minio
from minio.deleteobjects import DeleteObject
from minio.error import S3Error
from minio.helpers import MIN_PART_SIZE

from shared.events import ObjectCreated, user_metadata
from shared.names import BUCKETS, INBOX_BUCKET
from shared.settings import Settings

_CHUNK = 64 * 1024


@dataclass(frozen=True)
class StoredObject:
    """An object as a bucket listing gives it: its key and when it was last written."""

    key: str
    modified: datetime


class ObjectStore(Protocol):
    """What handlers may do with the object store (any S3 with the same semantics)."""

    async def ping(self) -> None: ...
    async def put(
        self, bucket: str, key: str, data: bytes, content_type: str, metadata: Mapping[str, str]
    ) -> str: ...
    async def put_file(
        self,
        bucket: str,
        key: str,
        file: BinaryIO,
        length: int,
        content_type: str,
        metadata: Mapping[str, str],
    ) -> str: ...
    async def get(self, bucket: str, key: str) -> bytes: ...
    async def get_if_exists(self, bucket: str, key: str) -> bytes | None: ...
    def stream(self, bucket: str, key: str) -> AsyncGenerator[bytes, None]: ...
    async def describe(self, bucket: str, key: str) -> ObjectCreated | None: ...
    async def keys(self, bucket: str, prefix: str) -> list[str]: ...
    async def listing(self, bucket: str, after: str, limit: int) -> list[StoredObject]: ...
    async def remove(self, bucket: str, keys: list[str]) -> None: ...
    def public_url(self, bucket: str, key: str) -> str: ...


class MinioStore:
    """ObjectStore over the minio SDK."""

    def __init__(self, settings: Settings) -> None:
        # Enough pooled connections for a full prefetch window of concurrent handlers.
        pool = urllib3.PoolManager(maxsize=max(10, settings.prefetch * 2), retries=False)
        self._client = Minio(
            settings.s3_endpoint,
            access_key=settings.s3_access_key,
            secret_key=settings.s3_secret_key,
            secure=settings.s3_secure,
            region=settings.s3_region,
            http_client=pool,
        )
        # Presigning is pure computation: a client for the public endpoint signs links for the
        # host users can reach, and never connects anywhere (the region is given).
        self._public = Minio(
            settings.s3_public_endpoint,
            access_key=settings.s3_access_key,
            secret_key=settings.s3_secret_key,
            secure=settings.s3_public_secure,
            region=settings.s3_region,
        )
        self._expiry = timedelta(seconds=settings.output_url_expiry_s)

    async def ping(self) -> None:
        """Raise unless the store answers (readiness checks)."""
        await asyncio.to_thread(self._client.bucket_exists, INBOX_BUCKET)

    async def ensure_buckets(self) -> None:
        """Create the service's buckets if missing (idempotent)."""
        for bucket in BUCKETS:
            if not await asyncio.to_thread(self._client.bucket_exists, bucket):
                try:
                    await asyncio.to_thread(self._client.make_bucket, bucket)
                except S3Error as exc:  # another process created it first
                    if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                        raise

    async def put(
        self, bucket: str, key: str, data: bytes, content_type: str, metadata: Mapping[str, str]
    ) -> str:
        """Write an object; returns its ETag."""
        return await self.put_file(bucket, key, io.BytesIO(data), len(data), content_type, metadata)

    async def put_file(
        self,
        bucket: str,
        key: str,
        file: BinaryIO,
        length: int,
        content_type: str,
        metadata: Mapping[str, str],
    ) -> str:
        """Write the next `length` bytes of `file` as an object; returns its ETag.

        Memory holds one part at a time, whatever the length: above MIN_PART_SIZE (5 MiB) the
        SDK sends a multipart upload, and with one upload thread it reads the next part only
        once the last is sent (its parallel uploads queue every part read, without a bound).
        """
        result = await asyncio.to_thread(
            self._client.put_object,
            bucket,
            key,
            file,
            length,
            content_type=content_type,
            metadata=dict(metadata),
            part_size=MIN_PART_SIZE,
            num_parallel_uploads=1,
        )
        return str(result.etag)

    async def get(self, bucket: str, key: str) -> bytes:
        return b"".join([chunk async for chunk in self.stream(bucket, key)])

    async def get_if_exists(self, bucket: str, key: str) -> bytes | None:
        """The object's bytes, or None if there is no such object (deleted, expired)."""
        try:
            return await self.get(bucket, key)
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchObject"):
                return None
            raise

    async def stream(self, bucket: str, key: str) -> AsyncGenerator[bytes, None]:
        """Yield an object's bytes in chunks, reading each chunk in a worker thread."""
        response = await asyncio.to_thread(self._client.get_object, bucket, key)
        try:
            chunks = response.stream(_CHUNK)
            while chunk := await asyncio.to_thread(next, chunks, b""):
                yield chunk
        finally:
            response.close()
            response.release_conn()

    async def describe(self, bucket: str, key: str) -> ObjectCreated | None:
        """The object as its creation event would describe it, or None if it does not exist."""
        try:
            stat = await asyncio.to_thread(self._client.stat_object, bucket, key)
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchObject"):
                return None
            raise
        return ObjectCreated(
            event_name="s3:ObjectCreated:Put",
            bucket=bucket,
            key=key,
            size=int(stat.size or 0),
            etag=str(stat.etag or "").strip('"'),
            content_type=str(stat.content_type or ""),
            metadata=user_metadata(dict(stat.metadata or {})),
        )

    async def keys(self, bucket: str, prefix: str) -> list[str]:
        """Keys of the objects under `prefix`."""

        def listing() -> list[str]:
            return [
                o.object_name for o in self._client.list_objects(bucket, prefix, recursive=True)
            ]

        return await asyncio.to_thread(listing)

    async def listing(self, bucket: str, after: str, limit: int) -> list[StoredObject]:
        """Up to `limit` objects of the whole bucket in key order, from the first key after
        `after` ("": from the start), with their last-modified times (the retention sweep)."""

        def page() -> list[StoredObject]:
            found = self._client.list_objects(bucket, recursive=True, start_after=after or None)
            return [
                StoredObject(o.object_name, o.last_modified)
                for o in itertools.islice(found, limit)
                if o.object_name is not None and o.last_modified is not None
            ]

        return await asyncio.to_thread(page)

    async def remove(self, bucket: str, keys: list[str]) -> None:
        """Delete the objects (a missing one is no error); raise on the first the store refuses."""

        def removal() -> None:
            deletes = (DeleteObject(key) for key in keys)
            for failure in self._client.remove_objects(bucket, deletes):  # lazy: consume it
                raise OSError(f"could not delete {bucket}/{failure.name}: {failure.message}")

        if keys:
            await asyncio.to_thread(removal)

    def public_url(self, bucket: str, key: str) -> str:
        """A presigned GET link on the public endpoint, valid for the configured expiry."""
        return self._public.presigned_get_object(bucket, key, expires=self._expiry)
