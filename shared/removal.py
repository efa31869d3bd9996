"""Removing a request's objects (DELETE, and the retention sweep when a request expires)."""

from shared.names import COMPRESSED_BUCKET, ORIGINALS_BUCKET
from shared.records import RequestRecord
from shared.runtime import Clients


async def remove_objects(request: RequestRecord, clients: Clients) -> None:
    """The request's originals, compressed copies and variants, but outputs another request
    still uses (a reused output is the same object: shared/reuse.py), and its
    stored CSV unless another of the tenant's requests was made from the same one."""
    store = clients.store
    await store.remove(ORIGINALS_BUCKET, await store.keys(ORIGINALS_BUCKET, f"{request.id}/"))
    # Its own outputs, and those it reused of a request deleted before it (kept for it then).
    outputs = await store.keys(COMPRESSED_BUCKET, f"{request.id}/")
    outputs += sorted(await clients.db.images.borrowed(request.id))
    kept = await clients.db.images.used_by_others(request.id, outputs)
    await store.remove(COMPRESSED_BUCKET, [key for key in outputs if key not in kept])
    source = request.source
    if source is not None and not await clients.db.requests.others_from_source(request):
        await store.remove(source.bucket, [source.key])
