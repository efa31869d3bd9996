"""The OpenAPI document served at /openapi.json (and rendered by Swagger UI at /docs).

Generated, not kept by hand: the bodies' schemas come from the views the gateway answers with
(shared/api.py), the options and ids from the rules the gateway checks (shared/rules.py), the
parameters from the same objects the routes read them with (below), and the limits and
defaults from this gateway's own settings. OpenAPI 3.0.3, as the bundled Swagger UI reads it.
"""

from dataclasses import dataclass
from typing import Any

import msgspec

from ingest.csvfile import SRCSET_SEPARATOR, SRCSETS_COLUMN
from shared.api import Accepted, ErrorBody, RequestList, StatusView
from shared.quotas import (
    BYTES_STORED,
    CONCURRENT,
    IMAGES_PER_DAY,
    RETRY_AFTER_CONCURRENT_S,
    RETRY_AFTER_STORED_S,
)
from shared.rules import (
    ANIMATED_FORMATS,
    ANIMATION,
    AUTO_SPELLINGS,
    EFFORT,
    FORMAT,
    IDEMPOTENCY_KEY_MAX,
    LARGEST_SIDE,
    LEVELS,
    MAX_BYTES,
    MAX_FRAMES,
    MAX_HEIGHT,
    MAX_WIDTH,
    MAX_WIDTHS,
    METADATA,
    QUALITY,
    REQUEST_ID,
    WIDTH,
    RuleError,
    WholeNumber,
)
from shared.settings import Settings

Schema = dict[str, Any]


@dataclass(frozen=True)
class PageParam:
    """A whole-number query parameter: the route reads it with `read`, the document states it."""

    name: str
    low: int
    high: int
    default: int

    def read(self, raw: str | None) -> int:
        if raw is None:
            return self.default
        try:
            value = int(raw)
        except ValueError:
            raise RuleError(f"{self.name} must be a whole number") from None
        if not self.low <= value <= self.high:
            raise RuleError(f"{self.name} must be from {self.low} to {self.high}")
        return value


OFFSET = PageParam("offset", 0, 10**9, default=0)
STATUS_LIMIT = PageParam("limit", 1, 5000, default=1000)  # rows of products per page
LIST_LIMIT = PageParam("limit", 1, 100, default=20)  # requests per page


def openapi_document(settings: Settings) -> Schema:
    """The document for a gateway running with `settings` (its limits and defaults)."""
    refs, schemas = msgspec.json.schema_components(
        [StatusView, RequestList, Accepted, ErrorBody],
        ref_template="#/components/schemas/{name}",
    )
    status_ref, list_ref, accepted_ref, error_ref = refs
    error = _json("An error; `error` says why.", error_ref)
    gone = _json(
        "The request expired: it finished more than RETAIN_REQUESTS_DAYS ago, and its "
        'images, output CSV and records are deleted. `error` says when, e.g. "request … '
        'expired on 2026-12-05: requests are kept 30 days (RETAIN_REQUESTS_DAYS)". '
        "Another tenant's expired request answers 404.",
        error_ref,
    )
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "imgpipe",
            "version": "0.1.0",
            "description": "Upload a CSV of products and image URLs; every image is "
            "downloaded and compressed asynchronously. Poll the status or wait for the "
            "webhook, then download the output CSV.",
        },
        "paths": {
            "/api/upload": {"post": _upload(settings, accepted_ref, error)},
            "/api/status/{request_id}": {"get": _status(status_ref, error, gone)},
            "/api/download/{request_id}": {"get": _download(error, gone)},
            "/api/requests": {"get": _list(list_ref, error)},
            "/api/requests/{request_id}": {"delete": _delete(error, gone)},
            "/healthz": {
                "get": {
                    "summary": "Liveness",
                    "security": [],
                    "responses": {"200": {"description": "OK"}},
                }
            },
        },
        "components": {
            "schemas": {name: to_openapi_30(s) for name, s in schemas.items()},
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "An API key"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            },
        },
        # Every /api route needs a key (either way of sending it); a key sees only its tenant's
        # requests, and another tenant's request id answers 404.
        "security": [{"bearer": []}, {"apiKey": []}],
    }


def _upload(settings: Settings, accepted: Schema, error: Schema) -> Schema:
    csv = (
        "CSV (UTF-8) with a header row naming the columns S. No., Product Name and Input "
        "Image Urls (or s, product, urls; extra columns are kept), then one row per product; "
        "several URLs in one cell are separated by commas. At most "
        f"{settings.max_csv_bytes} bytes, {settings.max_csv_rows} rows, "
        f"{settings.max_urls_per_row} URLs per row, {settings.max_url_length} characters per "
        "URL. Every row is checked before the upload is accepted: a CSV that breaks a rule "
        "answers 400 naming the line."
    )
    form = {
        "type": "object",
        "required": ["file"],
        "properties": {
            "file": {"type": "string", "format": "binary", "description": csv},
            "quality": {
                "anyOf": [
                    _whole_number(QUALITY),
                    {"type": "string", "enum": list(AUTO_SPELLINGS)},
                ],
                "default": settings.default_quality,
                "description": "A fixed encoder quality (the same number means the same as "
                "ever), or a perceptual level: every image gets the smallest encoding whose "
                "SSIMULACRA2 score reaches "
                + ", ".join(f"{score:g} at auto:{level}" for level, score in LEVELS.items())
                + " (`auto` is auto:medium).",
            },
            "effort": {
                "type": "string",
                "enum": list(EFFORT.choices),
                "default": EFFORT.default,
                "description": "How hard the encoder works: more effort, fewer bytes, more "
                "time. A fixed quality's JPEG pixels are the same at every effort.",
            },
            "max_bytes": {
                **_whole_number(MAX_BYTES),
                "description": "A ceiling on each image's output size: a fixed quality is "
                "lowered until the image fits (or the image fails, naming the smallest size "
                "reached); an auto level that cannot fit fails the image with its size.",
            },
            "max_width": {
                **_whole_number(MAX_WIDTH),
                "description": "Scale each image down (never up), aspect kept, to at most "
                "this width; with max_height, to fit within both. At most "
                + ", ".join(f"{side} for {fmt}" for fmt, side in LARGEST_SIDE.items())
                + ".",
            },
            "max_height": {
                **_whole_number(MAX_HEIGHT),
                "description": "Scale each image down (never up) to at most this height.",
            },
            "widths": {
                "type": "string",
                "pattern": r"^\s*\d+\s*(,\s*\d+\s*)*$",
                "example": "320,640,1280",
                "description": f"Up to {MAX_WIDTHS} comma-separated widths ({WIDTH.low} to "
                f"{WIDTH.high}, each once): each image also gets a variant of each width below "
                "its output's (never upscaled), same format and quality, aspect kept. The "
                "status lists them and a srcset; the output CSV adds a last column, "
                f"`{SRCSETS_COLUMN}`, with each image's srcset ({SRCSET_SEPARATOR.strip()!r} "
                "between a row's images).",
            },
            "metadata": {
                "type": "string",
                "enum": list(METADATA.choices),
                "default": METADATA.default,
                "description": "What each output keeps of the source's metadata: `none` "
                "(nothing; pixels converted to sRGB), `copyright` (EXIF Artist and Copyright, "
                "XMP creator, rights and credit), `keep` (EXIF without GPS, serial numbers, "
                "owner name and maker note, plus the ICC profile instead of converting), `all` "
                "(EXIF with GPS and serials too, plus the ICC profile). Orientation is applied "
                "to the pixels.",
            },
            "animation": {
                "type": "string",
                "enum": list(ANIMATION.choices),
                "default": ANIMATION.default,
                "description": "An animated GIF or WebP source: its first frame (`first`), or "
                "every frame with its timing and the loop count (`keep`: needs format "
                + " or ".join(ANIMATED_FORMATS)
                + f"; at most {MAX_FRAMES} frames, and all frames' pixels together within the "
                f"limit of {settings.max_image_pixels}, else the image fails saying which). An "
                "animation carries no metadata; an auto level is searched on its first frame.",
            },
            "format": {
                "type": "string",
                "enum": list(FORMAT.choices),
                "default": settings.default_format,
                "description": "Output format of every image.",
            },
            "webhook_url": {
                "type": "string",
                "format": "uri",
                "pattern": "^https?://",
                "description": "Called (POST, signed) when the request finishes. Its host "
                "must resolve to public addresses only.",
            },
        },
    }
    idempotency = {
        "name": "Idempotency-Key",
        "in": "header",
        "required": False,
        "schema": {"type": "string", "minLength": 1, "maxLength": IDEMPOTENCY_KEY_MAX},
        "description": "Visible ASCII. Retrying with the same key returns the same request "
        "(header Idempotent-Replayed: true) instead of processing it twice; the same key "
        "with a different upload answers 422.",
    }
    return {
        "summary": "Submit a CSV",
        "parameters": [idempotency],
        "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": form}}},
        "responses": {
            "202": _json("Accepted; processing continues asynchronously.", accepted),
            **_errors(error, "400", "401", "422"),
            "413": {
                **error,
                "description": "The CSV is larger than the limit of "
                f"{settings.max_csv_bytes} bytes, or lists more images than the tenant may "
                f"have in a day ({IMAGES_PER_DAY.name}): split it.",
            },
            "429": {
                **error,
                "description": "The upload would break one of the tenant's limits (`python -m "
                f"ingest.keys limit`): {CONCURRENT.name} (requests pending or processing), "
                f"{IMAGES_PER_DAY.name} (images of the requests created this UTC day, this "
                f"CSV's included) or {BYTES_STORED.name} (bytes its requests keep stored). "
                "`error` names the limit and the usage; nothing is stored for the upload. "
                "The status and the request list show the usage next to the limits.",
                "headers": {
                    "Retry-After": {
                        "description": "Seconds to wait before trying again: "
                        f"{RETRY_AFTER_CONCURRENT_S} for {CONCURRENT.name}, until the next "
                        f"midnight UTC for {IMAGES_PER_DAY.name}, {RETRY_AFTER_STORED_S} for "
                        f"{BYTES_STORED.name} (space comes back when requests are deleted, at "
                        "once, or expire). When several limits are reached, the longest wait.",
                        "schema": {"type": "integer"},
                    }
                },
            },
        },
    }


def _status(view: Schema, error: Schema, gone: Schema) -> Schema:
    return {
        "summary": "A request's status, per product and image",
        "description": "Products come in pages of rows (`offset`, `limit`; "
        "`products_page.next_offset` is null on the last page); `usage` is your tenant's "
        "usage next to its limits. The ETag changes with progress and usage: poll with "
        "If-None-Match to get 304 while nothing moved. An image whose "
        "compressed copy outlived RETAIN_COMPRESSED_DAYS has `output_expired` true and no "
        "links.",
        "parameters": [
            _request_id(),
            _query(OFFSET),
            _query(STATUS_LIMIT),
            {"name": "If-None-Match", "in": "header", "schema": {"type": "string"}},
        ],
        "responses": {
            "200": _json("The request", view),
            "304": {"description": "Unchanged since the ETag given"},
            **_errors(error, "400", "401", "404"),
            "410": gone,
        },
    }


def _delete(error: Schema, gone: Schema) -> Schema:
    return {
        "summary": "Delete a finished request",
        "description": "Removes its originals, compressed copies and variants, its stored CSV "
        "(unless another of your requests was made from the same inbox key) and every record "
        "of it; its output links stop working. Asked again, or for another tenant's request, "
        "it answers 404: nothing of it is left to delete. A request still processing, or whose "
        "webhook is still being delivered, answers 409.",
        "parameters": [_request_id()],
        "responses": {
            "204": {"description": "Deleted"},
            **_errors(error, "401", "404", "409"),
            "410": gone,
        },
    }


def _download(error: Schema, gone: Schema) -> Schema:
    return {
        "summary": "The output CSV of a finished request",
        "description": "The input rows in order with their original columns, plus "
        "`Output Image Urls` (one slot per input URL; empty where the image failed or its "
        "compressed copy expired) and `Errors` (why: the failure, or that the output outlived "
        f"RETAIN_COMPRESSED_DAYS); with `widths`, `{SRCSETS_COLUMN}` last.",
        "parameters": [_request_id()],
        "responses": {
            "200": {
                "description": "The CSV",
                "content": {"text/csv": {"schema": {"type": "string"}}},
            },
            **_errors(error, "401", "404", "409"),
            "410": gone,
        },
    }


def _list(view: Schema, error: Schema) -> Schema:
    inbox_key = {
        "name": "inbox_key",
        "in": "query",
        "required": False,
        "schema": {"type": "string"},
        "description": "Only those made from the CSV stored under this key (a CSV put "
        "straight into the inbox bucket)",
    }
    before = {
        "name": "before",
        "in": "query",
        "required": False,
        "schema": {"type": "string", "format": "date-time"},
        "description": "The next page: `next_before` of the previous one",
    }
    return {
        "summary": "Your requests, newest first, and your usage next to your limits",
        "parameters": [inbox_key, _query(LIST_LIMIT), before],
        "responses": {
            "200": _json("Matching requests, newest first", view),
            **_errors(error, "400", "401"),
        },
    }


def _whole_number(rule: WholeNumber | PageParam) -> Schema:
    return {"type": "integer", "minimum": rule.low, "maximum": rule.high}


def _query(rule: PageParam) -> Schema:
    schema = {**_whole_number(rule), "default": rule.default}
    return {"name": rule.name, "in": "query", "required": False, "schema": schema}


def _request_id() -> Schema:
    schema = {"type": "string", "pattern": f"^{REQUEST_ID.regex}$"}
    return {"name": "request_id", "in": "path", "required": True, "schema": schema}


def _json(description: str, schema: Schema) -> Schema:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(error: Schema, *codes: str) -> dict[str, Schema]:
    return {code: error for code in codes}


def to_openapi_30(schema: Any) -> Any:
    """msgspec's JSON Schema (2020-12) in OpenAPI 3.0's dialect: `nullable` for a union with
    null, a `type` on every enum, a $ref with a description wrapped in allOf, no titles."""
    if isinstance(schema, list):
        return [to_openapi_30(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: to_openapi_30(v) for k, v in schema.items() if k != "title"}
    options = out.get("anyOf")
    if isinstance(options, list) and {"type": "null"} in options:
        rest = [option for option in options if option != {"type": "null"}]
        del out["anyOf"]
        one = rest[0] if len(rest) == 1 else {"anyOf": rest}
        # A $ref admits no siblings in 3.0: wrap it so `nullable` applies.
        out.update({"allOf": [one]} if "$ref" in one else one)
        out["nullable"] = True
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
    if "enum" in out and "type" not in out:
        out["type"] = "string"
    if "$ref" in out and len(out) > 1:  # a described $ref: its siblings would be ignored
        out = {"allOf": [{"$ref": out.pop("$ref")}], **out}
    return out
