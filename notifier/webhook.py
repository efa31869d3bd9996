"""The webhook a request's owner receives when it reaches a final status."""

from typing import Any

import aiohttp
import orjson

from shared.netguard import BlockedURL, check_url
from shared.settings import Settings


def payload(request: dict[str, Any], public_base_url: str) -> dict[str, Any]:
    """The JSON body: what finished, how it went, where the output CSV is."""
    request_id = request["_id"]
    return {
        "type": "request.finished",
        "request_id": request_id,
        "status": request["status"],
        "total": request.get("total", 0),
        "done": request.get("done", 0),
        "failed": request.get("failed", 0),
        "error": request.get("error"),
        "status_url": f"{public_base_url}/api/status/{request_id}",
        "download_url": f"{public_base_url}/api/download/{request_id}",
    }


async def deliver(
    session: aiohttp.ClientSession, url: str, body: dict[str, Any], settings: Settings
) -> dict[str, Any]:
    """POST the body once; returns the attempt's outcome for the request's record."""
    try:
        check_url(url, settings.fetch_allow_cidrs)
        async with session.post(
            url,
            data=orjson.dumps(body),
            headers={"Content-Type": "application/json"},
            timeout=aiohttp.ClientTimeout(total=settings.webhook_timeout_s),
            allow_redirects=False,
        ) as response:
            ok = 200 <= response.status < 300
            return {
                "ok": ok,
                "status_code": response.status,
                "error": None if ok else response.reason,
            }
    except (BlockedURL, aiohttp.ClientError, TimeoutError) as exc:
        return {"ok": False, "status_code": None, "error": str(exc) or type(exc).__name__}
