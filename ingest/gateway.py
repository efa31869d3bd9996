"""The HTTP gateway: accept CSV uploads into the inbox bucket, answer status and downloads.

It never parses rows or fans out work: the inbox bucket's object-created event does that
(ingest/handler.py), so a CSV put straight into the bucket is processed the same way.
"""

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import msgspec
from starlette.applications import Starlette
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

from ingest import uploads
from ingest.auth import hash_key, presented_key
from ingest.bodycap import BodyCap, BodyTooLong
from ingest.csvfile import CsvError, OutputCsv
from ingest.openapi import LIST_LIMIT, OFFSET, STATUS_LIMIT, PageParam, openapi_document
from ingest.ops import MetricsMiddleware, healthz, metrics_endpoint, readyz
from ingest.report import (
    LinkFor,
    OutputsKept,
    etag,
    output_row,
    product_view,
    request_view,
    usage_view,
)
from shared import logs, quotas
from shared.api import (
    Accepted,
    ErrorBody,
    ProductsPage,
    RequestList,
    StatusView,
    UsageView,
    View,
)
from shared.names import COMPRESSED_BUCKET
from shared.records import RequestRecord
from shared.removal import remove_objects
from shared.retention import request_expired_message
from shared.rules import REQUEST_ID, RuleError, date_time
from shared.runtime import Clients, open_clients
from shared.settings import Settings
from shared.status import FINAL_STATUSES, RequestStatus

_DOCS_HTML = Path(__file__).with_name("docs.html")
log = logging.getLogger(__name__)


class ViewResponse(Response):
    """A JSON body from one of the API's views (shared/api.py)."""

    media_type = "application/json"

    def render(self, content: View) -> bytes:
        return msgspec.json.encode(content)


def error(status_code: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return ViewResponse(ErrorBody(error=message), status_code=status_code, headers=headers)


def clients_of(request: Request) -> Clients:
    clients: Clients = request.state.clients
    return clients


async def authenticate(request: Request) -> str:
    """The caller's tenant, from its API key; 401 without a valid one."""
    key = presented_key(request.headers)
    tenant = None
    if key is not None:
        tenant = await clients_of(request).db.keys.tenant_of(hash_key(key))
    if tenant is None:
        why = "missing API key" if key is None else "invalid or revoked API key"
        raise HTTPException(
            401,
            f"{why}: send `Authorization: Bearer <key>` or `X-API-Key: <key>`",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return tenant


async def find_request(request: Request) -> RequestRecord:
    """The caller's request named in the path; another tenant's answers 404 like a missing one,
    an expired one (its tombstone) 410 saying when and why."""
    tenant = await authenticate(request)
    request_id = str(request.path_params.get("request_id", ""))
    found = None
    if REQUEST_ID.matches(request_id):
        found = await clients_of(request).db.requests.get(request_id)
    if found is None or found.tenant != tenant:
        raise HTTPException(404, f"no request with id {request_id!r}")
    if found.status == RequestStatus.EXPIRED:
        assert found.expired_at is not None and found.kept_days is not None  # a tombstone's
        raise HTTPException(
            410, request_expired_message(found.id, found.expired_at, found.kept_days)
        )
    return found


def outputs_kept(clients: Clients) -> OutputsKept:
    return OutputsKept(datetime.now(UTC), clients.settings.retain_compressed_days)


async def upload(request: Request) -> Response:
    tenant = await authenticate(request)
    settings = clients_of(request).settings
    # The form is read through the cap: a body that cannot hold a CSV within the limit stops
    # as it arrives, not once spooled whole.
    body = BodyCap(request.receive, uploads.body_limit(settings))
    try:
        async with Request(request.scope, body).form(
            max_files=1, max_fields=uploads.MAX_FORM_FIELDS
        ) as form:
            file = form.get("file")
            if not isinstance(file, UploadFile):
                return error(400, "the form field 'file' must be the CSV file")
            return await _upload_csv(request, tenant, form, file)
    except BodyTooLong:  # the parser has closed (so deleted) the spooled file
        await body.drain()
        too_large = uploads.TooLarge(settings.max_csv_bytes)
        return error(too_large.status_code, str(too_large))
    except ClientDisconnect:
        # Gone mid-body: the parser has closed (so deleted) the spooled file, nothing is
        # stored, and no one is left to answer. 499 is nginx's "client closed request".
        log.info("upload cut short: the client disconnected")
        return Response(status_code=499)


async def _upload_csv(request: Request, tenant: str, form: FormData, file: UploadFile) -> Response:
    """The upload, while its spooled file is open: check it, claim its key, store it."""
    clients = clients_of(request)
    settings = clients.settings
    try:
        options = uploads.form_options(form, settings)
        await uploads.check_webhook_host(options, settings)
        # A worker thread: parsing a 100 MB CSV is seconds of CPU the event loop keeps.
        csv = await asyncio.to_thread(uploads.check_csv, file.file, settings)
        key = uploads.idempotency_key(request.headers.get("Idempotency-Key"))
    except uploads.UploadError as exc:
        return error(exc.status_code, str(exc))
    except CsvError as exc:
        return error(400, str(exc))
    request_id = uuid.uuid4().hex
    if key is not None:
        fingerprint = uploads.fingerprint(csv, options)
        claim = await clients.db.keys.claim_idempotency_key(
            f"{tenant}:{key}", request_id, fingerprint
        )
        if claim.fingerprint != fingerprint:
            return error(422, "this Idempotency-Key was used for a different upload")
        earlier = await clients.db.requests.get(claim.request_id)
        if earlier is not None:  # a retry of an accepted upload: same answer, no new work
            # (but its CSV, if the first attempt recorded the request and stopped there)
            if await uploads.resume(clients, earlier, file.file, csv, options):
                log.warning("request %s: its CSV had not been stored; stored now", earlier.id)
            replay = Accepted(request_id=earlier.id, status=earlier.status)
            return ViewResponse(replay, status_code=202, headers={"Idempotent-Replayed": "true"})
        request_id = claim.request_id  # claimed earlier, but never accepted: finish it
    # A first look, not a reservation: ingest counts the images once it accepts the request,
    # and refuses it then if another CSV took the day's last images meanwhile.
    moment = datetime.now(UTC)
    limits = await clients.db.tenants.get(tenant)
    usage = await clients.db.usage(tenant, moment)
    if (refused := quotas.refusal(tenant, limits, usage, csv.images, moment)) is not None:
        if refused.retry_after_s is None:  # waiting cannot make it fit
            return error(413, refused.message)
        return error(429, refused.message, {"Retry-After": str(refused.retry_after_s)})
    filename = file.filename or "upload.csv"
    await uploads.accept(clients, tenant, request_id, filename, file.file, csv, options)
    accepted = Accepted(request_id=request_id, status=RequestStatus.PENDING)
    return ViewResponse(accepted, status_code=202)


async def status(request: Request) -> Response:
    """The request with a page of its products (`offset`, `limit` rows; 304 if unchanged)."""
    found = await find_request(request)
    offset = _int_param(request, OFFSET)
    limit = _int_param(request, STATUS_LIMIT)
    clients = clients_of(request)
    kept = outputs_kept(clients)
    usage = await _usage(clients, found.tenant)
    tag = etag(found, offset, limit, usage, kept)
    if request.headers.get("if-none-match") == tag:
        return Response(status_code=304, headers={"ETag": tag})
    images, link = clients.db.images, _linker(clients)
    pairs = images.by_row(found.id, offset, limit)
    products = [product_view(row, imgs, link, kept) async for row, imgs in pairs]
    more = len(products) == limit and await images.has_row(found.id, offset + limit)
    page = ProductsPage(offset=offset, limit=limit, next_offset=offset + limit if more else None)
    summary = msgspec.structs.asdict(request_view(found))
    body = StatusView(**summary, products=products, products_page=page, usage=usage)
    return ViewResponse(body, headers={"ETag": tag, "Cache-Control": "no-cache"})


async def _usage(clients: Clients, tenant: str) -> UsageView:
    limits = await clients.db.tenants.get(tenant)
    return usage_view(await clients.db.usage(tenant, datetime.now(UTC)), limits)


def _int_param(request: Request, param: PageParam) -> int:
    try:
        return param.read(request.query_params.get(param.name))
    except RuleError as exc:
        raise HTTPException(400, str(exc)) from None


async def delete_request(request: Request) -> Response:
    """Remove a finished request: its objects, then its records. Another tenant's, or one
    deleted already, answers 404."""
    found = await find_request(request)
    if found.status not in FINAL_STATUSES:
        return error(409, f"request {found.id} is {found.status}; delete it when it is done")
    if found.webhook_url is not None and found.webhook_state is None:
        return error(409, f"request {found.id}: its webhook is still being delivered")
    clients = clients_of(request)
    await remove_objects(found, clients)
    await clients.db.forget(found.id)
    log.info("request %s deleted", found.id)
    return Response(status_code=204)


async def download(request: Request) -> Response:
    found = await find_request(request)
    if found.status not in FINAL_STATUSES:
        return error(409, f"request {found.id} is {found.status}; try again when it is done")
    if found.status == RequestStatus.FAILED:
        return error(409, f"request {found.id} failed: {found.error}")
    clients = clients_of(request)
    images, link, kept = clients.db.images, _linker(clients), outputs_kept(clients)

    async def lines() -> AsyncIterator[str]:
        """Row by row from the database: memory stays flat for any size of request."""
        out = OutputCsv(found.header, srcsets=bool(found.sizes.widths))
        yield out.header_line()
        async for row, slots in images.by_row(found.id):
            yield out.line(output_row(row, slots, link, kept))

    filename = f"{found.id}-output.csv"
    return StreamingResponse(
        lines(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


async def list_requests(request: Request) -> Response:
    """The caller's requests, newest first; `before` (a created_at) pages on, `inbox_key`
    finds those made from a CSV put straight into the inbox bucket."""
    tenant = await authenticate(request)
    limit = _int_param(request, LIST_LIMIT)
    before = None
    if (raw := request.query_params.get("before")) is not None:
        try:
            before = date_time(raw, "before")
        except RuleError as exc:
            raise HTTPException(400, str(exc)) from None
    key = request.query_params.get("inbox_key", "")
    clients = clients_of(request)
    found = await clients.db.requests.of_tenant(tenant, limit, before, key)
    views = [request_view(r) for r in found]
    following = views[-1].created_at if len(views) == limit else None
    usage = await _usage(clients, tenant)
    return ViewResponse(RequestList(requests=views, next_before=following, usage=usage))


async def docs(request: Request) -> Response:
    return FileResponse(_DOCS_HTML, media_type="text/html")


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    response = error(exc.status_code, exc.detail)
    response.headers.update(exc.headers or {})
    return response


def _linker(clients: Clients) -> LinkFor:
    return lambda key: clients.store.public_url(COMPRESSED_BUCKET, key)


def create_app(settings: Settings) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Clients]]:
        # The database is waited for in the background: /readyz answers meanwhile.
        async with open_clients(settings, database_in_background=True) as clients:
            yield {"clients": clients}

    web = Path(__file__).with_name("web")  # the page: static files, no build step

    async def page(request: Request) -> Response:
        return FileResponse(web / "index.html", media_type="text/html")

    document = openapi_document(settings)  # this gateway's limits and defaults

    async def openapi(request: Request) -> Response:
        return JSONResponse(document)

    return Starlette(
        routes=[
            Route("/", page),
            Mount("/web", StaticFiles(directory=web), name="web"),
            Route("/api/upload", upload, methods=["POST"]),
            Route("/api/status/{request_id}", status),
            Route("/api/download/{request_id}", download),
            Route("/api/requests", list_requests),
            Route("/api/requests/{request_id}", delete_request, methods=["DELETE"]),
            Route("/openapi.json", openapi),
            Route("/docs", docs),
            Mount("/docs/static", StaticFiles(directory=swagger_ui_path), name="swagger"),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics_endpoint),
        ],
        exception_handlers={HTTPException: http_error},
        middleware=[Middleware(MetricsMiddleware)],
        lifespan=lifespan,
    )


def main() -> None:
    """`python -m ingest.gateway`; `--check` is a dry run: app built, settings valid, no I/O."""
    import os
    import sys

    import uvicorn

    settings = Settings.from_env(os.environ)
    logs.configure("gateway", settings.log_level)
    app = create_app(settings)
    host, port = settings.gateway_host, settings.gateway_port
    if "--check" in sys.argv[1:]:
        print(f"gateway: configuration ok; would listen on {host}:{port}")
        return
    uvicorn.run(app, host=host, port=port, log_level="info")


if __name__ == "__main__":
    main()
