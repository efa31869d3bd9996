"""Manage API keys and tenants' limits: `python -m ingest.keys create|list|revoke|limit`.

    python -m ingest.keys create --name ci-bot --tenant acme   # prints the key, once
    python -m ingest.keys list
    python -m ingest.keys revoke 1f2e3d4c5b6a                   # a key id from `list`
    python -m ingest.keys limit acme --concurrent 3             # 0: no limit

Reads MONGO_URL and MONGO_DB like the services (the other servers' settings are not needed).
A tenant's keys see only that tenant's requests; a tenant exists while it has a key that is
not revoked.
"""

import argparse
import asyncio
import os
import sys

from ingest.auth import hash_key, key_id, new_key
from shared.db import Database
from shared.rules import KEY_ID, TENANT
from shared.settings import Settings, SettingsError


async def create(db: Database, name: str, tenant: str) -> str:
    key = new_key()
    await db.keys.add(hash_key(key), name, tenant)
    return key


async def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m ingest.keys", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("create", help="create a key and print it (shown only once)")
    make.add_argument("--name", required=True, help="who or what uses the key")
    make.add_argument("--tenant", help=f"{TENANT.description} (default: the name)")
    commands.add_parser("list", help="list keys (ids, never the keys)")
    revoke = commands.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("id")
    limit = commands.add_parser("limit", help="set a tenant's limits")
    limit.add_argument("tenant")
    limit.add_argument(
        "--concurrent",
        type=int,
        required=True,
        help="requests pending or processing at once; more uploads answer 429 (0: no limit)",
    )
    args = parser.parse_args(argv)

    try:
        settings = Settings.from_env(os.environ, require=("MONGO_URL",))
    except SettingsError as exc:
        parser.error(str(exc))
    db = Database(settings.mongo_url, settings.mongo_db)
    try:
        if args.command == "create":
            tenant = args.tenant or args.name
            if not TENANT.matches(tenant):
                parser.error(f"tenant {tenant!r}: use {TENANT.description}")
            await db.ensure_indexes()
            print(await create(db, args.name, tenant))
        elif args.command == "limit":
            if not TENANT.matches(args.tenant) or args.concurrent < 0:
                parser.error(f"give a tenant ({TENANT.description}) and --concurrent >= 0")
            await db.tenants.set_max_concurrent(args.tenant, args.concurrent or None)
            print(f"{args.tenant}: at most {args.concurrent or 'any number of'} requests at once")
        elif args.command == "list":
            for key in await db.keys.all():
                state = f"revoked {key.revoked_at:%Y-%m-%d}" if key.revoked_at else "active"
                print(f"{key_id(key.id)}  {key.tenant:<20} {key.name:<20} {state}")
        else:
            if not KEY_ID.matches(args.id):
                parser.error(f"the id is {KEY_ID.description}")
            if not await db.keys.revoke(args.id):
                print(f"no active key with id {args.id}", file=sys.stderr)
                return 1
            print(f"revoked {args.id}")
    finally:
        await db.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
