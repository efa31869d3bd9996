"""The OpenAPI document served at /openapi.json (and rendered by Swagger UI at /docs)."""

from typing import Any

from shared.names import DEFAULT_FORMAT, OUTPUT_FORMATS

_ERROR = {
    "description": "An error; `error` says why.",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {"error": {"type": "string"}},
                "required": ["error"],
            }
        }
    },
}
_REQUEST_ID = {
    "name": "request_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
}
_IMAGE = {
    "type": "object",
    "properties": {
        "input_url": {"type": "string"},
        "status": {"type": "string", "enum": ["pending", "done", "failed"]},
        "output_url": {"type": "string", "nullable": True},
        "error": {"type": "string", "nullable": True},
        "bytes_in": {"type": "integer", "nullable": True},
        "bytes_out": {"type": "integer", "nullable": True},
        "format": {"type": "string", "enum": list(OUTPUT_FORMATS), "nullable": True},
        "quality": {"type": "integer", "nullable": True},
        "kept_source": {
            "type": "boolean",
            "nullable": True,
            "description": "The output is the source JPEG without its metadata: re-encoding "
            "would not have made it smaller.",
        },
        "timeline": {
            "type": "object",
            "description": "When each step happened (ISO 8601, ms): published, "
            "fetch_started, fetched, original_stored, compress_started, compressed, "
            "compressed_stored, notify_started. *_stored are the object store's clock.",
            "additionalProperties": {"type": "string", "format": "date-time"},
        },
        "hops_ms": {
            "type": "object",
            "description": "Milliseconds between those steps: to_fetcher, downloading, "
            "storing_original, to_compressor, compressing, storing_compressed, to_notifier.",
            "additionalProperties": {"type": "integer"},
        },
    },
}
_REQUEST = {
    "type": "object",
    "properties": {
        "request_id": {"type": "string"},
        "status": {
            "type": "string",
            "enum": ["pending", "processing", "completed", "completed_with_errors", "failed"],
        },
        "error": {"type": "string", "nullable": True},
        "filename": {"type": "string"},
        "quality": {"type": "integer"},
        "format": {"type": "string", "enum": list(OUTPUT_FORMATS)},
        "created_at": {"type": "string", "format": "date-time"},
        "completed_at": {"type": "string", "format": "date-time", "nullable": True},
        "counts": {
            "type": "object",
            "properties": {k: {"type": "integer"} for k in ("total", "done", "failed")},
        },
        "timeline": {
            "type": "object",
            "description": "csv_stored, ingest_started and fanned_out (ISO 8601, ms).",
            "additionalProperties": {"type": "string", "format": "date-time"},
        },
        "webhook_attempts": {"type": "array", "items": {"type": "object"}},
    },
}

OPENAPI: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {
        "title": "imgpipe",
        "version": "0.1.0",
        "description": "Upload a CSV of products and image URLs; every image is downloaded and "
        "compressed asynchronously. Poll the status or wait for the webhook, then download "
        "the output CSV.",
    },
    "paths": {
        "/api/upload": {
            "post": {
                "summary": "Submit a CSV",
                "parameters": [
                    {
                        "name": "Idempotency-Key",
                        "in": "header",
                        "required": False,
                        "schema": {"type": "string", "maxLength": 255},
                        "description": "Retrying with the same key returns the same request "
                        "(header Idempotent-Replayed: true) instead of processing it twice; "
                        "the same key with a different upload answers 422.",
                    }
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "multipart/form-data": {
                            "schema": {
                                "type": "object",
                                "required": ["file"],
                                "properties": {
                                    "file": {
                                        "type": "string",
                                        "format": "binary",
                                        "description": "CSV with columns S. No., Product Name, "
                                        "Input Image Urls (or s, product, urls)",
                                    },
                                    "quality": {
                                        "type": "integer",
                                        "minimum": 1,
                                        "maximum": 95,
                                        "default": 50,
                                    },
                                    "format": {
                                        "type": "string",
                                        "enum": list(OUTPUT_FORMATS),
                                        "default": DEFAULT_FORMAT,
                                        "description": "Output format of every image.",
                                    },
                                    "webhook_url": {"type": "string", "format": "uri"},
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "202": {
                        "description": "Accepted; processing continues asynchronously.",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "request_id": {"type": "string"},
                                        "status": {"type": "string", "enum": ["pending"]},
                                    },
                                }
                            }
                        },
                    },
                    "400": _ERROR,
                    "401": _ERROR,
                    "413": _ERROR,
                    "422": _ERROR,
                },
            }
        },
        "/api/status/{request_id}": {
            "get": {
                "summary": "A request's status, per product and image",
                "description": "Products come in pages of rows (`offset`, `limit`; "
                "`products_page.next_offset` is null on the last page). The ETag changes "
                "with progress: poll with If-None-Match to get 304 while nothing moved.",
                "parameters": [
                    _REQUEST_ID,
                    {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0}},
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 5000},
                    },
                    {"name": "If-None-Match", "in": "header", "schema": {"type": "string"}},
                ],
                "responses": {
                    "200": {
                        "description": "The request",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "allOf": [
                                        _REQUEST,
                                        {
                                            "type": "object",
                                            "properties": {
                                                "products": {
                                                    "type": "array",
                                                    "items": {
                                                        "type": "object",
                                                        "properties": {
                                                            "row": {"type": "integer"},
                                                            "serial": {"type": "string"},
                                                            "product": {"type": "string"},
                                                            "images": {
                                                                "type": "array",
                                                                "items": _IMAGE,
                                                            },
                                                        },
                                                    },
                                                }
                                            },
                                        },
                                    ]
                                }
                            }
                        },
                    },
                    "304": {"description": "Unchanged since the ETag given"},
                    "400": _ERROR,
                    "401": _ERROR,
                    "404": _ERROR,
                },
            }
        },
        "/api/download/{request_id}": {
            "get": {
                "summary": "The output CSV of a finished request",
                "description": "The input rows in order with their original columns, plus "
                "`Output Image Urls` (one slot per input URL; empty where the image failed) "
                "and `Errors`.",
                "parameters": [_REQUEST_ID],
                "responses": {
                    "200": {"description": "The CSV", "content": {"text/csv": {}}},
                    "401": _ERROR,
                    "404": _ERROR,
                    "409": _ERROR,
                },
            }
        },
        "/api/requests": {
            "get": {
                "summary": "Your requests, newest first",
                "parameters": [
                    {
                        "name": "inbox_key",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string"},
                        "description": "Only those made from the CSV stored under this key "
                        "(a CSV put straight into the inbox bucket)",
                    },
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 100},
                    },
                    {
                        "name": "before",
                        "in": "query",
                        "schema": {"type": "string", "format": "date-time"},
                        "description": "The next page: `next_before` of the previous one",
                    },
                ],
                "responses": {
                    "200": {
                        "description": "Matching requests, newest first",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "requests": {"type": "array", "items": _REQUEST},
                                        "next_before": {"type": "string", "nullable": True},
                                    },
                                }
                            }
                        },
                    },
                    "400": _ERROR,
                    "401": _ERROR,
                },
            }
        },
        "/healthz": {
            "get": {
                "summary": "Liveness",
                "security": [],
                "responses": {"200": {"description": "OK"}},
            }
        },
    },
    "components": {
        "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer", "description": "An API key"},
            "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
        }
    },
    # Every /api route needs a key (either way of sending it); a key sees only its tenant's
    # requests, and another tenant's request id answers 404.
    "security": [{"bearer": []}, {"apiKey": []}],
}
