"""Rendition sizes and PSNR against a one-step LANCZOS reference from the full decode."""

from __future__ import annotations

import io
import math
from pathlib import Path

from PIL import Image, ImageChops

LANCZOS = Image.Resampling.LANCZOS

# The service's default rendition set (IMAGES_APP["RENDITIONS"]): name -> box.
RENDITIONS = {
    "thumb": (150, 150),
    "thumb_retina": (300, 300),
    "ipad": (1024, 1024),
    "ipad_retina": (2048, 2048),
    "ebay": (1600, 1600),
}


def fit_inside(width: int, height: int, box_width: int, box_height: int) -> tuple[int, int]:
    """The contract's size (images_app.rendering.spec.fit_inside): keep aspect, never upscale.

    A copy, so the harness keeps working while the renderer is being rewritten.
    """
    scale = min(box_width / width, box_height / height, 1.0)
    if scale == 1.0:
        return width, height
    return max(1, round(width * scale)), max(1, round(height * scale))


def target_sizes(size: tuple[int, int]) -> dict[str, tuple[int, int]]:
    """Rendition name -> output size for a source of ``size``."""
    return {name: fit_inside(*size, *box) for name, box in RENDITIONS.items()}


class References:
    """Reference renditions of one input, made on demand and kept, and PSNR against them.

    Compared in the space a viewer sees: RGB for opaque sources, premultiplied RGBa for
    transparent ones (the colour under a fully transparent pixel does not count).
    """

    def __init__(self, path: Path):
        with Image.open(path) as image:
            image.load()
            self.alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
            self.source = image.convert("RGBa" if self.alpha else "RGB")
        self._made: dict[tuple[int, int], Image.Image] = {}

    def get(self, size: tuple[int, int]) -> Image.Image:
        """The one-step LANCZOS reference at ``size``, in the comparison space."""
        if size not in self._made:
            self._made[size] = self.source.resize(size, LANCZOS)
        return self._made[size]

    def viewable(self, size: tuple[int, int]) -> Image.Image:
        """The reference as an image to encode: RGB, or RGBA (straight alpha)."""
        reference = self.get(size)
        return reference.convert("RGBA") if self.alpha else reference

    def psnr(self, data: bytes) -> float:
        """PSNR in dB of an encoded rendition against the reference of its own size."""
        with Image.open(io.BytesIO(data)) as output:
            output.load()
            output = output.convert("RGBA").convert("RGBa") if self.alpha else output.convert("RGB")
        return psnr(output, self.get(output.size))


def psnr(a: Image.Image, b: Image.Image) -> float:
    """Peak signal-to-noise ratio of two same-size, same-mode 8-bit images; inf if identical."""
    histogram = ImageChops.difference(a, b).histogram()
    squares = sum(count * (value % 256) ** 2 for value, count in enumerate(histogram))
    mse = squares / (a.width * a.height * len(a.getbands()))
    return math.inf if mse == 0 else 10 * math.log10(255**2 / mse)
