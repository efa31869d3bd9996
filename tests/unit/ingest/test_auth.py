"""API key helpers: how a key is presented, made and stored."""

import pytest
from starlette.datastructures import Headers

from ingest.auth import KEY_PREFIX, hash_key, key_id, new_key, presented_key


@pytest.mark.parametrize(
    ("headers", "key"),
    [
        ({"Authorization": "Bearer imgp_abc"}, "imgp_abc"),
        ({"Authorization": "bearer   imgp_abc  "}, "imgp_abc"),
        ({"X-API-Key": " imgp_abc "}, "imgp_abc"),
        ({"Authorization": "Bearer imgp_a", "X-API-Key": "imgp_b"}, "imgp_a"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, None),
        ({"Authorization": "Bearer "}, None),
        ({}, None),
    ],
)
def test_presented_key(headers: dict[str, str], key: str | None) -> None:
    assert presented_key(Headers(headers)) == key


def test_new_keys_are_long_random_and_prefixed() -> None:
    keys = {new_key() for _ in range(100)}
    assert len(keys) == 100
    assert all(k.startswith(KEY_PREFIX) and len(k) >= 40 for k in keys)


def test_hash_and_id() -> None:
    digest = hash_key("imgp_abc")
    assert (
        digest == "07a4e2a9de2b545fe7f19c2648d176e858160341cada0ace9b3e8f5dbf769e1f"
    )  # SHA-256 hex
    assert hash_key("imgp_abc") == digest and hash_key("imgp_abd") != digest
    assert key_id(digest) == digest[:12]
