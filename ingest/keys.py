"""Manage API keys and tenants' limits: `python -m ingest.keys create|list|revoke|limit`.

    python -m ingest.keys create --name ci-bot --tenant acme   # prints the key, once
    python -m ingest.keys list
    python -m ingest.keys revoke 1f2e3d4c5b6a                   # a key id from `list`
    python -m ingest.keys limit acme --concurrent 3             # 0 removes a limit
    python -m ingest.keys limit acme --images-per-day 10000 --bytes-stored 5000000000

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
from shared.quotas import LIMITS
from shared.records import TenantRecord
from shared.rules import KEY_ID, TENANT
from shared.settings import Settings, SettingsError


async def create(db: Database, name: str, tenant: str) -> str:
    key = new_key()
    await db.keys.add(hash_key(key), name, tenant)
    return key


def limit_value(raw: str) -> int:
    """A limit as the command line gives it: a whole number, 0 for none."""
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {raw!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 (no limit) or more, got {value}")
    return value


def limits_line(limits: TenantRecord) -> str:
    """The tenant's limits after a change, one `name=value` each (`none`: no limit)."""
    shown = (f"{limit.name}={limit.of(limits) or 'none'}" for limit in LIMITS)
    return f"{limits.id}: {' '.join(shown)}"


async def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m ingest.keys", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("create", help="create a key and print it (shown only once)")
    make.add_argument("--name", required=True, help="who or what uses the key")
    make.add_argument("--tenant", help=f"{TENANT.description} (default: the name)")
    commands.add_parser("list", help="list keys (ids, never the keys)")
    revoke = commands.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("id")
    limit = commands.add_parser(
        "limit", help="set a tenant's limits (those not given are left as they are)"
    )
    limit.add_argument("tenant")
    for rule in LIMITS:
        limit.add_argument(
            rule.option, dest=rule.name, type=limit_value, metavar="N", help=rule.help
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
            if not TENANT.matches(args.tenant):
                limit.error(f"tenant {args.tenant!r}: use {TENANT.description}")
            given = {r.name: getattr(args, r.name) for r in LIMITS}
            changes = {name: value for name, value in given.items() if value is not None}
            if not changes:
                limit.error(f"give at least one of {', '.join(r.option for r in LIMITS)}")
            print(limits_line(await db.tenants.set_limits(args.tenant, changes)))
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
