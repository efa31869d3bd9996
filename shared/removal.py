"""Removing a request's objects (DELETE, and the retention sweep when a request expires)."""

from shared.names import COMPRESSED_BUCKET, ORIGINALS_BUCKET
from shared.records import RequestRecord
from shared.runtime import Clients


async def remove_objects(request: RequestRecord, clients: Clients) -> None:
    """The request's originals, compressed copies and variants, but those another request
    still uses (a reused output or original is the same object: shared/reuse.py), and its
    stored CSV unless another of the tenant's requests was made from the same one."""
    store = clients.store
    # Its own objects, and those it reused of a request deleted before it (kept for it then).
    outputs, originals = await clients.db.images.borrowed(request.id)
    for bucket, borrowed in ((COMPRESSED_BUCKET, outputs), (ORIGINALS_BUCKET, originals)):
        keys = await store.keys(bucket, f"{request.id}/") + sorted(borrowed)
        kept = await clients.db.images.used_by_others(request.id, keys)
        await store.remove(bucket, [key for key in keys if key not in kept])
    source = request.source
    if source is not None and not await clients.db.requests.others_from_source(request):
        await store.remove(source.bucket, [source.key])
