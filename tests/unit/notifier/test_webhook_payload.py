"""The webhook body a request's owner receives when the request reaches a final status."""

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from ingest.gateway import create_app
from notifier.webhook import payload
from shared.db.codec import record
from shared.records import RequestRecord
from shared.settings import Settings

RID = "e6ffb05b235749b081bb556eda014c40"
BASE = "https://imgpipe.example.com"
ENV = {
    "AMQP_URL": "amqp://guest:guest@rabbit:5672/",
    "S3_ENDPOINT": "minio:9000",
    "S3_ACCESS_KEY": "access",
    "S3_SECRET_KEY": "secret",
    "MONGO_URL": "mongodb://mongo:27017/",
}


def request_doc(**fields: Any) -> RequestRecord:
    """A request as the notifier reads it back after closing the request."""
    doc = {
        "_id": RID,
        "tenant": "acme",
        "format": "jpeg",
        "status": "completed_with_errors",
        "filename": "products.csv",
        "quality": 80,
        "webhook_url": "https://hooks.example.com/imgpipe?token=s3cr3t",
        "total": 7,
        "done": 6,
        "failed": 1,
        "created_at": datetime(2025, 6, 3, 9, 14, 25, tzinfo=UTC),
        "completed_at": datetime(2025, 6, 3, 9, 16, 2, tzinfo=UTC),
        **fields,
    }
    return record(doc, RequestRecord)


def test_finished_request() -> None:
    assert payload(request_doc(), BASE) == {
        "type": "request.finished",
        "request_id": RID,
        "status": "completed_with_errors",
        "total": 7,
        "done": 6,
        "failed": 1,
        "error": None,
        "status_url": f"{BASE}/api/status/{RID}",
        "download_url": f"{BASE}/api/download/{RID}",
    }


def test_failed_request_carries_its_error() -> None:
    doc = {
        "_id": RID,
        "tenant": "acme",
        "filename": "products.csv",
        "quality": 50,
        "format": "jpeg",
        "status": "failed",
        "error": "Missing column: 'Product Name' (or 'product').",
        "created_at": datetime(2025, 6, 3, 9, 14, 25, tzinfo=UTC),
    }
    body = payload(record(doc, RequestRecord), BASE)
    assert body["status"] == "failed"
    assert body["error"] == "Missing column: 'Product Name' (or 'product')."
    assert (body["total"], body["done"], body["failed"]) == (0, 0, 0)  # counts default to 0


def test_only_the_documented_fields_are_sent() -> None:
    """Nothing else from the document leaks out: not the webhook's own token, not timestamps."""
    body = payload(request_doc(), BASE)
    assert set(body) == {
        "type",
        "request_id",
        "status",
        "total",
        "done",
        "failed",
        "error",
        "status_url",
        "download_url",
    }
    assert "s3cr3t" not in orjson.dumps(body).decode()


def test_body_serialises_to_json() -> None:
    body = payload(request_doc(status="completed", done=7, failed=0), BASE)
    assert orjson.loads(orjson.dumps(body)) == body


def test_urls_follow_the_configured_base_url() -> None:
    """Settings strip the trailing slash, so links never hold "//"."""
    settings = Settings.from_env({**ENV, "PUBLIC_BASE_URL": "https://example.com/imgpipe/"})
    body = payload(request_doc(), settings.public_base_url)
    assert body["status_url"] == f"https://example.com/imgpipe/api/status/{RID}"
    assert body["download_url"] == f"https://example.com/imgpipe/api/download/{RID}"


@pytest.mark.parametrize(
    ("url_field", "route"),
    [("status_url", "/api/status/{request_id}"), ("download_url", "/api/download/{request_id}")],
)
def test_urls_match_gateway_routes(url_field: str, route: str) -> None:
    # Building the app only builds its routing table: the lifespan (clients) does not run.
    app = create_app(Settings.from_env(ENV))
    assert route in {getattr(r, "path", None) for r in app.routes}
    assert payload(request_doc(), BASE)[url_field] == BASE + route.format(request_id=RID)
