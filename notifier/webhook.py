"""The webhook a request's owner receives when it reaches a final status.

Signed as in the Standard Webhooks scheme (https://www.standardwebhooks.com/): headers
`webhook-id` (the same on every attempt, so subscribers can dedupe), `webhook-timestamp` and
`webhook-signature` = "v1," + base64(HMAC-SHA256(secret, "<id>.<timestamp>.<body>")), where
the secret is the base64 part of `whsec_…`. Delivery is retried by the broker (shared/retry.py).
"""

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from shared.netguard import BlockedURL, check_url
from shared.records import RequestRecord, WebhookState
from shared.settings import Settings

SECRET_PREFIX = "whsec_"


def event_id(request_id: str) -> str:
    """One event per request: every attempt of its webhook carries this id."""
    return f"msg_{request_id}"


def payload(request: RequestRecord, public_base_url: str) -> dict[str, Any]:
    """The JSON body: what finished, how it went, where the output CSV is."""
    return {
        "type": "request.finished",
        "request_id": request.id,
        "status": request.status.value,
        "total": request.total,
        "done": request.done,
        "failed": request.failed,
        "error": request.error,
        "status_url": f"{public_base_url}/api/status/{request.id}",
        "download_url": f"{public_base_url}/api/download/{request.id}",
    }


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header value for one attempt."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


@dataclass(frozen=True)
class Outcome:
    """One delivery attempt, as recorded on the request and shown in its status."""

    ok: bool
    status_code: int | None
    error: str | None
    retryable: bool  # worth another attempt (everything but a refused address)

    @property
    def state(self) -> WebhookState | None:
        """How the deliveries end after this attempt; None: try again."""
        if self.ok:
            return WebhookState.DELIVERED
        return None if self.retryable else WebhookState.FAILED


async def deliver(
    session: aiohttp.ClientSession, url: str, request: RequestRecord, settings: Settings
) -> Outcome:
    """POST the signed body once."""
    body = orjson.dumps(payload(request, settings.public_base_url))
    message_id = event_id(request.id)
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(settings.webhook_secret, message_id, timestamp, body),
    }
    try:
        check_url(url, settings.fetch_allow)
        async with session.post(
            url,
            data=body,
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=settings.webhook_timeout_s),
            allow_redirects=False,
        ) as response:
            code = response.status
    except BlockedURL as exc:
        return Outcome(False, None, str(exc), retryable=False)
    except (aiohttp.ClientError, TimeoutError) as exc:
        return Outcome(False, None, str(exc) or type(exc).__name__, retryable=True)
    if 200 <= code < 300:
        return Outcome(True, code, None, retryable=False)
    # Any other answer is retried, as common webhook senders do: a subscriber mid-deploy
    # may answer 404 or 401 for a while.
    return Outcome(False, code, f"HTTP {code}", retryable=True)
