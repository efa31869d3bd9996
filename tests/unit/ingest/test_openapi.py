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
