"""Manage API keys: `python -m ingest.keys create|list|revoke`.

    python -m ingest.keys create --name ci-bot --tenant acme   # prints the key, once
    python -m ingest.keys list
    python -m ingest.keys revoke 1f2e3d4c5b6a                   # a key id from `list`

Reads MONGO_URL and MONGO_DB like the services. A tenant's keys see only that tenant's
requests; a tenant exists while it has a key that is not revoked.
"""

import argparse
import asyncio
import os
import re
import sys

from ingest.auth import hash_key, key_id, new_key
from shared.db import Database

_TENANT = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_KEY_ID = re.compile(r"^[0-9a-f]{12}$")


async def create(db: Database, name: str, tenant: str) -> str:
    key = new_key()
    await db.add_api_key(hash_key(key), name, tenant)
    return key


async def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m ingest.keys", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("create", help="create a key and print it (shown only once)")
    make.add_argument("--name", required=True, help="who or what uses the key")
    make.add_argument("--tenant", help="lower-case letters, digits, dashes (default: the name)")
    commands.add_parser("list", help="list keys (ids, never the keys)")
    revoke = commands.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("id")
    args = parser.parse_args(argv)

    mongo_url = os.environ.get("MONGO_URL")
    if not mongo_url:
        parser.error("MONGO_URL is not set")
    db = Database(mongo_url, os.environ.get("MONGO_DB") or "imgpipe")
    try:
        if args.command == "create":
            tenant = args.tenant or args.name
            if not _TENANT.match(tenant):
                parser.error(f"tenant {tenant!r}: use lower-case letters, digits and dashes")
            await db.ensure_indexes()
            print(await create(db, args.name, tenant))
        elif args.command == "list":
            for doc in await db.list_api_keys():
                state = (
                    f"revoked {doc['revoked_at']:%Y-%m-%d}" if doc.get("revoked_at") else "active"
                )
                print(f"{key_id(doc['_id'])}  {doc['tenant']:<20} {doc['name']:<20} {state}")
        else:
            if not _KEY_ID.match(args.id):
                parser.error("the id is the 12 hex characters `list` shows")
            if not await db.revoke_api_key(args.id):
                print(f"no active key with id {args.id}", file=sys.stderr)
                return 1
            print(f"revoked {args.id}")
    finally:
        await db.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
