"""Database writes, counted in the oplog: one entry per document inserted, updated or deleted
(SecantusDB keeps one as a MongoDB replica set member does), so a bulk write of 500 counts 500.
"""

from collections import Counter
from typing import Any

from bson import Timestamp
from pymongo import DESCENDING, MongoClient

from deploy.local.stack import Stack

_OPS = {"i": "insert", "u": "update", "d": "delete"}


def mark(client: MongoClient[dict[str, Any]]) -> Timestamp:
    """Where the oplog is now: count_since(mark) counts what is written after this."""
    last = client.local["oplog.rs"].find_one({}, {"ts": 1}, sort=[("$natural", DESCENDING)])
    return last["ts"] if last else Timestamp(0, 0)


def count_since(
    client: MongoClient[dict[str, Any]], stack: Stack, since: Timestamp
) -> dict[str, int]:
    """Documents written in the stack's database since `since`, by "collection op"."""
    prefix = f"{stack.config.env()['MONGO_DB']}."
    counts: Counter[str] = Counter()
    entries = client.local["oplog.rs"].find({"ts": {"$gt": since}}, {"ns": 1, "op": 1})
    for entry in entries:
        ns, op = entry.get("ns", ""), _OPS.get(entry.get("op", ""))
        if op and ns.startswith(prefix):
            counts[f"{ns.removeprefix(prefix)} {op}"] += 1
    return dict(counts)
