"""animation=keep (compressor/animation.py): every frame, its timing and the loop, or a reason.

On the corpus's real animated GIF (18 frames, 120 ms each) and on generated ones: frame counts,
durations and loops read back from the WebP/AVIF written; the frame and pixel limits; sizes and
variants apply to every frame; `first` (the default) keeps today's single frame.
"""

import io
from pathlib import Path

import pytest
from PIL import Image, ImageSequence

from compressor.compress import compress, pixel_count, supported_formats
from shared.errors import ImageError
from shared.records import Sizes
from shared.rules import MAX_FRAMES, Format
from tests.bad_input.payloads import gif_of_frames

CORPUS_GIF = Path(__file__).resolve().parents[4] / "shared" / "corpus"
DOGS = CORPUS_GIF / "dogs_pan_animated_400x300.gif"
LIMIT = 64_000_000


def animated_gif(durations: list[int], loop: int = 0) -> bytes:
    colours = [(255, 0, 0), (0, 160, 0), (0, 0, 255), (250, 250, 0)]
    frames = [Image.new("RGB", (64, 48), colours[i % 4]) for i in range(len(durations))]
    out = io.BytesIO()
    frames[0].save(
        out, "GIF", save_all=True, append_images=frames[1:], duration=durations, loop=loop
    )
    return out.getvalue()


def frames_of(data: bytes) -> list[tuple[tuple[int, int], int, tuple[int, ...]]]:
    """(size, duration, the centre pixel) of every frame."""
    out = []
    with Image.open(io.BytesIO(data)) as im:
        for frame in ImageSequence.Iterator(im):
            rgb = frame.convert("RGB")
            out.append((rgb.size, int(frame.info["duration"]), rgb.getpixel((32, 24))))
    return out


def animated_outputs() -> list[Format]:
    return [f for f in ("webp", "avif") if f in supported_formats()]  # type: ignore[misc]


@pytest.mark.parametrize("output", animated_outputs())
def test_keep_writes_every_frame_with_its_duration(output: Format) -> None:
    source = animated_gif([100, 250, 40, 1000], loop=3)
    done = compress(source, 80, max_pixels=LIMIT, format=output, animation="keep")
    assert done.frames == 4 and done.format == output
    read = frames_of(done.data)
    assert [d for _, d, _ in read] == [100, 250, 40, 1000]
    expected = [(255, 0, 0), (0, 160, 0), (0, 0, 255), (250, 250, 0)]
    for (size, _, pixel), colour in zip(read, expected, strict=True):
        assert size == (64, 48)
        assert all(abs(a - b) < 24 for a, b in zip(pixel, colour, strict=True)), (pixel, colour)
    if output == "webp":
        with Image.open(io.BytesIO(done.data)) as im:
            assert im.info["loop"] == 3


@pytest.mark.skipif(not DOGS.exists(), reason="no corpus")
def test_a_real_gif_keeps_its_frames_through_sizes_and_variants() -> None:
    size = Sizes(max_width=200, widths=(100,))
    done = compress(
        DOGS.read_bytes(), 50, max_pixels=LIMIT, format="webp", animation="keep", size=size
    )
    assert (done.width, done.height, done.frames) == (200, 150, 18)
    assert [(s, d) for s, d, _ in frames_of(done.data)] == [((200, 150), 120)] * 18
    (variant,) = done.variants
    assert (variant.width, variant.height) == (100, 75)
    assert len(frames_of(variant.data)) == 18


def test_first_is_the_default_a_still_image() -> None:
    done = compress(animated_gif([100, 100]), 50, max_pixels=LIMIT, format="webp")
    assert done.frames is None
    with Image.open(io.BytesIO(done.data)) as im:
        assert getattr(im, "n_frames", 1) == 1


def test_a_still_image_with_keep_is_a_still_image() -> None:
    still = io.BytesIO()
    Image.new("RGB", (32, 32), (9, 9, 9)).save(still, "GIF")
    done = compress(still.getvalue(), 50, max_pixels=LIMIT, format="webp", animation="keep")
    assert done.frames is None


def test_too_many_frames_fail_naming_the_limit() -> None:
    with pytest.raises(
        ImageError, match=f"^animation has 10000 frames; the limit is {MAX_FRAMES}$"
    ):
        compress(gif_of_frames(10_000), 50, max_pixels=LIMIT, format="webp", animation="keep")


def test_the_pixel_limit_counts_every_frame() -> None:
    source = animated_gif([100] * 10)  # 10 frames of 64 x 48 = 30,720 pixels
    with pytest.raises(ImageError, match=r"10 frames of 64×48 pixels \(30720\) exceed"):
        compress(source, 50, max_pixels=30_719, format="webp", animation="keep")
    assert pixel_count(source, "keep") == 30_720 and pixel_count(source) == 3072


def test_max_bytes_bounds_the_whole_animation() -> None:
    source = animated_gif([100] * 8)
    whole = compress(source, 90, max_pixels=LIMIT, format="webp", animation="keep")
    capped = compress(
        source, 90, max_pixels=LIMIT, format="webp", animation="keep", max_bytes=len(whole.data) - 1
    )
    assert len(capped.data) < len(whole.data) and capped.frames == 8


def test_auto_searches_the_first_frame_and_keeps_every_frame() -> None:
    done = compress(
        animated_gif([100] * 3), "auto:medium", max_pixels=LIMIT, format="webp", animation="keep"
    )
    assert done.frames == 3 and 1 <= done.quality <= 100
