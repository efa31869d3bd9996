"""Named leases: one holder at a time, for as long as it keeps renewing (the reconciler)."""

from datetime import timedelta

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from shared.db.codec import Document, now


class Leases:
    def __init__(self, leases: AsyncCollection[Document]) -> None:
        self._leases = leases

    async def acquire(self, name: str, holder: str, seconds: float) -> bool:
        """Hold the named lease for `seconds` unless another holder has it."""
        moment = now()
        try:
            await self._leases.find_one_and_update(
                {"_id": name, "$or": [{"until": {"$lt": moment}}, {"holder": holder}]},
                {"$set": {"holder": holder, "until": moment + timedelta(seconds=seconds)}},
                upsert=True,
            )
        except DuplicateKeyError:  # held by someone else: the upsert collided with it
            return False
        return True
