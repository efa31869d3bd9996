"""Images the origin serves: damaged, hostile or unusual; one request, one row per case."""

import io
from collections.abc import AsyncIterator

import aiohttp
import pytest
from minio import Minio
from PIL import Image

from deploy.local.stack import Stack
from shared.names import COMPRESSED_BUCKET
from tests.bad_input.cases import IMAGES, Outcome
from tests.bad_input.checks import (
    Batch,
    assert_keeps_serving,
    check_completes_with_errors,
    check_outcome,
    image_key_of,
    outcome_params,
    run_batch,
)
from tests.bad_input.servers import Servers

pytestmark = pytest.mark.bad_input


@pytest.fixture(scope="module")
async def batch(
    stack: Stack, http: aiohttp.ClientSession, servers: Servers, store: Minio
) -> AsyncIterator[Batch]:
    yield await run_batch(http, stack, servers, store, IMAGES)


@pytest.mark.parametrize("case", outcome_params(IMAGES))
def test_image(case: Outcome, batch: Batch, servers: Servers) -> None:
    check_outcome(batch, case, servers)


def test_request_completes_with_errors(batch: Batch) -> None:
    check_completes_with_errors(batch, IMAGES)


def _output(batch: Batch, store: Minio, case_id: str) -> Image.Image:
    key = image_key_of(batch.request_id, batch.rows[case_id])
    response = store.get_object(COMPRESSED_BUCKET, key)
    try:
        data = response.read()
    finally:
        response.close()
        response.release_conn()
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def test_cmyk_comes_out_as_rgb_jpeg(batch: Batch, store: Minio) -> None:
    out = _output(batch, store, "img-cmyk-jpeg")
    assert (out.format, out.mode, out.size) == ("JPEG", "RGB", (120, 80))
    red, green, blue = out.getpixel((60, 40))  # type: ignore[misc]
    assert red > 200 and green < 40 and blue < 40  # cyan-free, full magenta and yellow: red


def test_16_bit_is_scaled_not_clipped(batch: Batch, store: Minio) -> None:
    out = _output(batch, store, "img-16-bit-png")
    assert (out.format, out.mode, out.size) == ("JPEG", "L", (256, 64))
    ramp = [out.getpixel((x, 32)) for x in (0, 128, 255)]
    assert [round(v / 8) for v in ramp] == [0, 16, 32]  # type: ignore[operator]


def test_animated_gif_gives_its_first_frame(batch: Batch, store: Minio) -> None:
    out = _output(batch, store, "img-animated-gif")
    assert (out.format, out.mode, out.size) == ("JPEG", "RGB", (64, 48))
    red, green, blue = out.getpixel((32, 24))  # type: ignore[misc]
    assert red > 200 and green < 40 and blue < 40  # the red first frame, not the blue second


async def test_keeps_serving(
    batch: Batch, stack: Stack, http: aiohttp.ClientSession, servers: Servers
) -> None:
    await assert_keeps_serving(stack, http, servers)
