"""Our Standard Webhooks signature, checked by the scheme's reference implementation."""

import base64
from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from notifier.webhook import event_id, sign

SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()


def headers(message_id: str, timestamp: int, signature: str) -> dict[str, str]:
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature,
    }


def test_reference_verifier_accepts_our_signature() -> None:
    now = int(datetime.now(UTC).timestamp())
    body = b'{"request_id": "abc", "status": "completed"}'
    signature = sign(SECRET, "msg_abc", now, body)
    assert Webhook(SECRET).verify(body, headers("msg_abc", now, signature)) == {
        "request_id": "abc",
        "status": "completed",
    }


def test_signature_matches_reference_signer() -> None:
    when = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    body = '{"a": 1}'
    expected = Webhook(SECRET).sign("msg_x", when, body)
    assert sign(SECRET, "msg_x", int(when.timestamp()), body.encode()) == expected


@pytest.mark.parametrize("tamper", ["body", "id", "timestamp", "secret"])
def test_tampering_is_detected(tamper: str) -> None:
    now = int(datetime.now(UTC).timestamp())
    body = b'{"a": 1}'
    signature = sign(SECRET, "msg_1", now, body)
    message_id, stamp = "msg_1", now
    secret = SECRET
    if tamper == "body":
        body = b'{"a": 2}'
    elif tamper == "id":
        message_id = "msg_2"
    elif tamper == "timestamp":
        stamp = now - 1
    else:
        secret = "whsec_" + base64.b64encode(b"x" * 32).decode()
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body, headers(message_id, stamp, signature))


def test_event_id_is_stable_per_request() -> None:
    assert event_id("abc") == event_id("abc") == "msg_abc"
    assert event_id("abc") != event_id("abd")
