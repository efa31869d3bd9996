"""The OpenAPI document is valid and covers every route the gateway serves."""

from openapi_spec_validator import validate
from starlette.routing import Route

from ingest.gateway import create_app
from ingest.openapi import openapi_document
from shared.settings import Settings

SETTINGS = Settings.from_env(
    {
        "AMQP_URL": "amqp://x",
        "S3_ENDPOINT": "s3:9000",
        "S3_ACCESS_KEY": "a",
        "S3_SECRET_KEY": "b",
        "MONGO_URL": "mongodb://m",
    }
)
OPENAPI = openapi_document(SETTINGS)


def test_document_is_valid_openapi() -> None:
    validate(OPENAPI)  # raises on any violation of the OpenAPI 3.0 schema


def test_every_api_route_is_documented_and_secured() -> None:
    app = create_app(SETTINGS)  # not started: no connections
    api = {r.path for r in app.routes if isinstance(r, Route) and r.path.startswith("/api/")}
    assert api == {p for p in OPENAPI["paths"] if p.startswith("/api/")}
    assert OPENAPI["security"] == [{"bearer": []}, {"apiKey": []}]
    for path in api:
        for operation in OPENAPI["paths"][path].values():
            assert "security" not in operation, path  # none opts out of the global rule
            assert "401" in operation["responses"], path


def test_every_route_naming_a_request_documents_410_for_an_expired_one() -> None:
    for path, operations in OPENAPI["paths"].items():
        for method, operation in operations.items():
            names_one = any(p.get("name") == "request_id" for p in operation.get("parameters", []))
            assert ("410" in operation["responses"]) is names_one, f"{method} {path}"


def test_the_expired_status_is_in_the_request_status_enum() -> None:
    schemas = OPENAPI["components"]["schemas"]
    assert "expired" in schemas["RequestStatus"]["enum"]
    assert "output_expired" in schemas["ImageView"]["required"]
    assert "expired_at" in schemas["RequestView"]["properties"]


def test_the_quota_answers_and_usage_are_documented() -> None:
    responses = OPENAPI["paths"]["/api/upload"]["post"]["responses"]
    over = responses["429"]
    for name in ("max_concurrent", "max_images_per_day", "max_bytes_stored"):
        assert name in over["description"], name
    retry = over["headers"]["Retry-After"]["description"]
    assert "5 for max_concurrent" in retry and "3600 for max_bytes_stored" in retry
    assert "midnight UTC for max_images_per_day" in retry
    assert "max_images_per_day" in responses["413"]["description"]
    schemas = OPENAPI["components"]["schemas"]
    usage = {"$ref": "#/components/schemas/UsageView"}
    assert schemas["StatusView"]["properties"]["usage"] == usage
    assert schemas["RequestList"]["properties"]["usage"] == usage
    assert "usage" in schemas["StatusView"]["required"]
    assert set(schemas["UsageView"]["required"]) == {
        "requests_in_progress",
        "images_today",
        "bytes_stored",
    }
    quota = {"$ref": "#/components/schemas/QuotaView"}
    for name, described in schemas["UsageView"]["properties"].items():
        assert described["allOf"] == [quota] and described["description"], name
    limit = schemas["QuotaView"]["properties"]["limit"]
    assert limit["type"] == "integer" and limit["nullable"] is True
