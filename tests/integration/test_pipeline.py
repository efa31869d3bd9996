"""Upload → fetch → compress → notify → webhook, on the real local stack."""

import csv
import io
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from PIL import Image
from standardwebhooks import Webhook

from deploy.local.stack import Stack
from shared.names import COMPRESSED_BUCKET, INBOX_BUCKET, ORIGINALS_BUCKET
from shared.timeline import HOPS, IMAGE_MOMENTS
from tests.integration.client import (
    CLASSIC_HEADER,
    base,
    counted,
    image_url,
    make_csv,
    s3,
    status_of,
    upload,
    wait_final,
    wait_for,
)
from tests.integration.conftest import TENANT, Delivery, Webhooks

pytestmark = pytest.mark.integration


def sample_images(sample_data: Path) -> list[str]:
    return sorted(p.name for p in (sample_data / "images").iterdir() if p.suffix != ".md")


async def test_upload_to_webhook(
    stack: Stack,
    http: aiohttp.ClientSession,
    anonymous: aiohttp.ClientSession,
    webhooks: Webhooks,
    sample_data: Path,
) -> None:
    names = sample_images(sample_data)
    rows = [
        ["1", "Café ☕ first", ", ".join(image_url(stack, n) for n in names[:2])],
        ["2", "Second", image_url(stack, names[2])],
        ["3", "Third", ",".join(image_url(stack, n) for n in names[3:])],
    ]
    response = await upload(http, stack, make_csv(rows), webhook_url=webhooks.url, quality="40")
    assert response.status == 202, await response.text()
    accepted = await response.json()
    request_id = accepted["request_id"]
    assert accepted["status"] == "pending"
    # The request answers at once, before the inbox event is processed.
    assert (await status_of(http, stack, request_id))["status"] in ("pending", "processing")

    delivery = await wait_for(
        lambda: _first(webhooks.for_request(request_id)), f"the webhook of request {request_id}"
    )
    # Signed as Standard Webhooks: the reference implementation verifies it.
    hook = Webhook(stack.config.webhook_secret).verify(delivery.body, delivery.headers)
    assert delivery.headers["webhook-id"] == f"msg_{request_id}"
    assert hook["status"] == "completed"
    assert hook["total"] == len(names) and hook["done"] == len(names) and hook["failed"] == 0
    assert hook["download_url"] == f"{base(stack)}/api/download/{request_id}"

    status = await status_of(http, stack, request_id)
    assert status["status"] == "completed"
    assert counted(status) == {"total": len(names), "done": len(names), "failed": 0}
    assert [p["product"] for p in status["products"]] == ["Café ☕ first", "Second", "Third"]
    inputs = [i["input_url"] for p in status["products"] for i in p["images"]]
    assert inputs == [image_url(stack, n) for n in names]
    assert status["webhook_state"] == "delivered"
    assert [a["ok"] for a in status["webhook_attempts"]] == [True]
    assert status["format"] == "jpeg" and status["quality"] == 40
    assert list(status["timeline"]) == ["csv_stored", "ingest_started", "fanned_out"]
    for image in (i for p in status["products"] for i in p["images"]):
        assert (image["format"], image["quality"]) == ("jpeg", 40)
        # Every function and the object store stamped it, in the order the image went.
        assert list(image["timeline"]) == list(IMAGE_MOMENTS), image
        moments = [datetime.fromisoformat(t) for t in image["timeline"].values()]
        assert moments == sorted(moments), image["timeline"]
        assert list(image["hops_ms"]) == list(HOPS)

    async with http.get(hook["download_url"]) as download:
        assert download.status == 200
        assert download.content_type == "text/csv"
        table = list(csv.reader(io.StringIO((await download.read()).decode("utf-8-sig"))))
    assert table[0] == [*CLASSIC_HEADER, "Output Image Urls", "Errors"]
    assert [r[:3] for r in table[1:]] == rows
    outputs = [u for r in table[1:] for u in r[3].split(",")]
    assert len(outputs) == len(names)

    client = s3(stack)
    for name, url in zip(names, outputs, strict=True):
        async with anonymous.get(url) as got:  # presigned: works without credentials
            assert got.status == 200, url
            body = await got.read()
        with Image.open(io.BytesIO(body)) as image:
            assert image.format == "JPEG"
        assert len(body) < (sample_data / "images" / name).stat().st_size, name
    assert len(list(client.list_objects(COMPRESSED_BUCKET, f"{request_id}/"))) == len(names)
    assert len(list(client.list_objects(ORIGINALS_BUCKET, f"{request_id}/"))) == len(names)


async def test_output_formats(
    stack: Stack, http: aiohttp.ClientSession, anonymous: aiohttp.ClientSession, sample_data: Path
) -> None:
    names = sample_images(sample_data)
    rows = [["1", "Two", ",".join(image_url(stack, n) for n in names[:2])]]
    uploaded = await upload(http, stack, make_csv(rows), format="WebP", quality="60")
    webp_id = (await uploaded.json())["request_id"]
    # A dropped CSV names its format in the object's metadata.
    data = make_csv(rows)
    key = f"{TENANT}/drops/avif-{uuid.uuid4().hex}.csv"
    s3(stack).put_object(
        INBOX_BUCKET, key, io.BytesIO(data), len(data), metadata={"format": "avif"}
    )

    async def dropped() -> list[dict[str, Any]]:
        async with http.get(f"{base(stack)}/api/requests", params={"inbox_key": key}) as r:
            return list((await r.json())["requests"])

    avif_id = (await wait_for(dropped, "the dropped CSV's request"))[0]["request_id"]
    for request_id, wanted, pillow_name in ((webp_id, "webp", "WEBP"), (avif_id, "avif", "AVIF")):
        status = await wait_final(http, stack, request_id)
        assert (status["status"], status["format"]) == ("completed", wanted), status
        for image in status["products"][0]["images"]:
            assert image["format"] == wanted and not image["kept_source"]
            assert image["output_url"].split("?")[0].endswith(f".{wanted}")
            async with anonymous.get(image["output_url"]) as got:
                assert got.content_type == f"image/{wanted}"
                with Image.open(io.BytesIO(await got.read())) as output:
                    assert output.format == pillow_name


async def test_unknown_format_is_refused(stack: Stack, http: aiohttp.ClientSession) -> None:
    response = await upload(http, stack, make_csv([["1", "x", "http://e.com/a.jpg"]]), format="gif")
    assert response.status == 400
    assert (await response.json())[
        "error"
    ] == "format must be one of jpeg, webp, avif, jxl, got 'gif'"
    # A dropped CSV cannot be answered: its request fails with the reason, the object is kept.
    data = make_csv([["1", "x", "http://e.com/a.jpg"]])
    key = f"{TENANT}/drops/png-{uuid.uuid4().hex}.csv"
    s3(stack).put_object(INBOX_BUCKET, key, io.BytesIO(data), len(data), metadata={"format": "png"})

    async def dropped() -> list[dict[str, Any]]:
        async with http.get(f"{base(stack)}/api/requests", params={"inbox_key": key}) as r:
            return list((await r.json())["requests"])

    request_id = (await wait_for(dropped, "the dropped CSV's request"))[0]["request_id"]
    status = await wait_final(http, stack, request_id)
    assert (status["status"], status["error"]) == (
        "failed",
        "format must be one of jpeg, webp, avif, jxl, got 'png'",
    )
    assert s3(stack).stat_object(INBOX_BUCKET, key).size == len(data)


async def _first(deliveries: list[Delivery]) -> Delivery | None:
    return deliveries[0] if deliveries else None


async def test_csv_dropped_into_inbox(
    stack: Stack, http: aiohttp.ClientSession, sample_data: Path
) -> None:
    names = sample_images(sample_data)
    data = make_csv([["1", "Dropped", image_url(stack, names[0])]], header=["s", "product", "urls"])
    key = f"{TENANT}/drops/my products.csv"  # the first folder names the tenant
    s3(stack).put_object(INBOX_BUCKET, key, io.BytesIO(data), len(data), content_type="text/csv")

    async def found() -> list[dict[str, Any]]:
        async with http.get(f"{base(stack)}/api/requests", params={"inbox_key": key}) as r:
            return list((await r.json())["requests"])

    requests = await wait_for(found, "the dropped CSV's request")
    status = await wait_final(http, stack, requests[0]["request_id"])
    assert status["status"] == "completed"
    assert counted(status) == {"total": 1, "done": 1, "failed": 0}


async def test_failed_images_complete_with_errors(
    stack: Stack, http: aiohttp.ClientSession, sample_data: Path
) -> None:
    names = sample_images(sample_data)
    urls = [
        image_url(stack, names[0]),
        image_url(stack, "missing.jpg"),
        image_url(stack, "LICENSES.md"),
    ]
    response = await upload(http, stack, make_csv([["1", "Mixed", ", ".join(urls)]]))
    request_id = (await response.json())["request_id"]
    status = await wait_final(http, stack, request_id)
    assert status["status"] == "completed_with_errors"
    assert counted(status) == {"total": 3, "done": 1, "failed": 2}
    ok, missing, text = status["products"][0]["images"]
    assert ok["status"] == "done" and ok["output_url"]
    assert missing["status"] == "failed" and "404" in missing["error"]
    assert text["status"] == "failed" and "not an image" in text["error"]

    async with http.get(f"{base(stack)}/api/download/{request_id}") as download:
        table = list(csv.reader(io.StringIO((await download.read()).decode("utf-8-sig"))))
    output_slots = table[1][3].split(",")
    assert (
        len(output_slots) == 3 and output_slots[0] and not output_slots[1] and not output_slots[2]
    )
    assert "404" in table[1][4] and "not an image" in table[1][4]


@pytest.mark.parametrize(
    ("data", "status_code", "message"),
    [
        (b"", 400, "empty"),
        (b"a,b,c\n1,2,3\n", 400, "Input Image Urls"),
    ],
)
async def test_bad_upload_is_refused(
    stack: Stack, http: aiohttp.ClientSession, data: bytes, status_code: int, message: str
) -> None:
    response = await upload(http, stack, data)
    assert response.status == status_code
    assert message.lower() in (await response.json())["error"].lower()


@pytest.mark.parametrize("request_id", ["0" * 32, "not-an-id", "../../etc"])
async def test_unknown_request_is_404(
    stack: Stack, http: aiohttp.ClientSession, request_id: str
) -> None:
    for path in ("status", "download"):
        async with http.get(f"{base(stack)}/api/{path}/{request_id}") as response:
            assert response.status == 404
            assert "error" in await response.json()


async def test_docs_are_served_without_cdn(stack: Stack, anonymous: aiohttp.ClientSession) -> None:
    http = anonymous  # the docs are public
    async with http.get(f"{base(stack)}/openapi.json") as response:
        spec = await response.json()
    assert "/api/upload" in spec["paths"]
    async with http.get(f"{base(stack)}/docs") as response:
        html = await response.text()
    assert "/docs/static/swagger-ui-bundle.js" in html and "http" not in html.split("<body>")[1]
    async with http.get(f"{base(stack)}/docs/static/swagger-ui-bundle.js") as response:
        assert response.status == 200


async def test_webhook_is_retried_with_the_same_id(
    stack: Stack, http: aiohttp.ClientSession, webhooks: Webhooks, sample_data: Path
) -> None:
    url = image_url(stack, sample_images(sample_data)[0])
    hook_url = f"{webhooks.base}/fail/2/retried"  # answers 500, 500, then 204
    response = await upload(http, stack, make_csv([["1", "Hooked", url]]), webhook_url=hook_url)
    request_id = (await response.json())["request_id"]

    async def delivered() -> dict[str, Any] | None:
        status = await status_of(http, stack, request_id)
        return status if status["webhook_state"] == "delivered" else None

    status = await wait_for(delivered, "the webhook to be delivered")
    attempts = webhooks.for_request(request_id)
    assert [a.answered for a in attempts] == [500, 500, 204]
    assert {a.headers["webhook-id"] for a in attempts} == {f"msg_{request_id}"}
    assert len({a.body for a in attempts}) == 1  # the same event every time
    assert [(a["ok"], a["status_code"]) for a in status["webhook_attempts"]] == [
        (False, 500),
        (False, 500),
        (True, 204),
    ]


async def test_idempotency_key_returns_the_same_request(
    stack: Stack, http: aiohttp.ClientSession, sample_data: Path
) -> None:
    data = make_csv([["1", "Once", image_url(stack, sample_images(sample_data)[0])]])
    key = {"Idempotency-Key": f"order-{uuid.uuid4()}"}
    first = await upload(http, stack, data, headers=key)
    again = await upload(http, stack, data, headers=key)
    assert first.status == again.status == 202
    request_id = (await first.json())["request_id"]
    assert (await again.json())["request_id"] == request_id
    assert again.headers["Idempotent-Replayed"] == "true"

    other = await upload(http, stack, data + b"2,Other,http://x/y.jpg\r\n", headers=key)
    assert other.status == 422
    assert "different upload" in (await other.json())["error"]

    status = await wait_final(http, stack, request_id)
    assert status["counts"]["total"] == 1  # processed once
