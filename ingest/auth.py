"""API keys: made once, shown once, stored only as a SHA-256 hash.

Keys are 32 random bytes, so a plain SHA-256 is enough (no slow hash needed: nothing to
brute-force); the database and the logs never hold a usable key.
"""

import hashlib
import secrets

from starlette.datastructures import Headers

KEY_PREFIX = "imgp_"


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def key_id(key_hash: str) -> str:
    """A short public name of a key (for `keys list` and `keys revoke`)."""
    return key_hash[:12]


def presented_key(headers: Headers) -> str | None:
    """The key sent as `Authorization: Bearer <key>` or `X-API-Key: <key>`, if any."""
    scheme, _, credentials = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return headers.get("x-api-key", "").strip() or None
