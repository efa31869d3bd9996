"""Animated sources kept animated (issue 15, `animation=keep`): every frame and its timing.

A GIF or animated WebP becomes an animated WebP or AVIF: each frame as Pillow composites it
(disposal and transparency applied), flattened on the background and scaled like a still
image, with its own duration and the source's loop count. Bounded before any frame beyond
the first is decoded: at most MAX_FRAMES frames, and the pixels of all frames together
within the service's pixel limit (what the compressor holds in memory at once).
"""

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from PIL import Image, ImageSequence

from compressor import encoders, sizes
from shared.errors import ImageError
from shared.rules import MAX_FRAMES, Effort, Format

DEFAULT_DURATION_MS = 100  # a frame without one (browsers show such GIF frames for 100 ms)


@dataclass(frozen=True)
class Frames:
    """An animation's frames, ready to encode: same size and mode, durations in ms."""

    images: Sequence[Image.Image]
    durations: Sequence[int]
    loop: int  # 0: forever

    def scaled(self, size: tuple[int, int]) -> "Frames":
        return Frames([sizes.scale_down(f, size) for f in self.images], self.durations, self.loop)


def frame_count(im: Image.Image) -> int:
    """How many frames an opened image holds (1 for a still one)."""
    return int(getattr(im, "n_frames", 1))


def check(width: int, height: int, frames: int, max_pixels: int) -> None:
    """ImageError naming the limit an animation of `frames` frames breaks."""
    if frames > MAX_FRAMES:
        raise ImageError(f"animation has {frames} frames; the limit is {MAX_FRAMES}")
    if frames * width * height > max_pixels:
        raise ImageError(
            f"animation too large: {frames} frames of {width}\N{MULTIPLICATION SIGN}{height} "
            f"pixels ({frames * width * height}) exceed the limit of {max_pixels}"
        )


def read(
    im: Image.Image, prepare: Callable[[Image.Image], Image.Image], size: tuple[int, int] | None
) -> Frames:
    """Every frame of `im`, each through `prepare` (flatten, sRGB) and scaled to `size`."""
    images, durations = [], []
    for frame in ImageSequence.Iterator(im):
        still = prepare(frame.copy())
        images.append(still if size is None else sizes.scale_down(still, size))
        durations.append(int(frame.info.get("duration") or DEFAULT_DURATION_MS))
    return Frames(images, durations, int(im.info.get("loop", 0)))


def encode(frames: Frames, output: Format, effort: Effort, quality: int) -> bytes:
    """The frames as one animated WebP (libwebp's method per effort) or AVIF."""
    first, rest = frames.images[0], list(frames.images[1:])
    params: dict[str, object] = {
        "save_all": True,
        "append_images": rest,
        "duration": list(frames.durations),
        "loop": frames.loop,
        "quality": quality,
    }
    if output == "webp":
        params["method"] = encoders.WEBP_METHOD[effort]
    elif output == "avif":
        params["speed"] = encoders.AVIF_SPEED[effort]
        params["max_threads"] = 1
    else:
        raise ValueError(f"{output} cannot hold an animation")
    out = io.BytesIO()
    first.save(out, output.upper(), **params)
    return out.getvalue()
