"""The benchmark's inputs, made in code and the same on every run (seeded, Pillow only).

A photo is smooth light (gradients, a horizon, a vignette), objects with hard and thin edges,
texture in two scales where a smooth mask says so, and a light sensor grain: what a camera
sends; not noise, which no camera sends and which makes every encoder slower and every file
bigger than a photo does.
"""

from __future__ import annotations

import io
import math
import random
from pathlib import Path

from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageFont

BICUBIC = Image.Resampling.BICUBIC

# name -> (the table's label, size, format). JPEGs are q90 photos but the chart, a q90 test chart
# (text, one-pixel lines, a star: where a resampler's sharpness shows); the PNG is an RGBA
# cut-out.
INPUTS = {
    "jpeg12": ("12 MP JPEG", (4000, 3000), "JPEG"),
    "jpeg24": ("24 MP JPEG", (6000, 4000), "JPEG"),
    "chart12": ("12 MP JPEG chart", (4000, 3000), "JPEG"),
    "png4": ("4 MP PNG, alpha", (2448, 1632), "PNG"),
}


def photo(width: int, height: int, seed: int = 12) -> Image.Image:
    """An RGB photo-like image: gradients, edges and texture."""
    rng = random.Random(seed)
    size = (width, height)
    half = _scene().resize((width // 2, height // 2), BICUBIC)
    _draw_objects(ImageDraw.Draw(half), half.size, rng)
    image = half.resize(size, BICUBIC)  # the 2x upscale softens the edges, like a lens
    texture = _texture_layer(size)
    return ImageChops.add(image, Image.merge("RGB", (texture,) * 3), offset=-128)


def cutout(width: int, height: int, seed: int = 4) -> Image.Image:
    """An RGBA product shot: a photo inside a soft-edged shape, a half-transparent shadow,
    and fully transparent pixels around them (the shape a shop's PNG upload has)."""
    image = photo(width, height, seed).convert("RGBA")
    small = Image.new("L", (width // 4, height // 4), 0)
    draw = ImageDraw.Draw(small)
    w, h = small.size
    draw.ellipse((w * 0.22, h * 0.78, w * 0.86, h * 0.95), fill=90)  # the shadow
    draw.rounded_rectangle((w * 0.2, h * 0.1, w * 0.8, h * 0.85), radius=w // 10, fill=255)
    draw.polygon([(w * 0.1, h * 0.4), (w * 0.3, h * 0.2), (w * 0.3, h * 0.6)], fill=255)
    alpha = small.filter(ImageFilter.GaussianBlur(1.5)).resize((width, height), BICUBIC)
    image.putalpha(alpha)
    return image


def write_inputs(directory: Path) -> dict[str, Path]:
    """Write every input into ``directory``; return name -> path."""
    paths = {}
    for name, (_, (width, height), fmt) in INPUTS.items():
        make = {"png4": cutout, "chart12": chart}.get(name, photo)
        image = make(width, height)
        buffer = io.BytesIO()
        if fmt == "JPEG":
            image.save(buffer, "JPEG", quality=90)
        else:
            image.save(buffer, "PNG", compress_level=6)
        paths[name] = directory / f"{name}.{fmt.lower().replace('jpeg', 'jpg')}"
        paths[name].write_bytes(buffer.getvalue())
    return paths


def chart(width: int, height: int) -> Image.Image:
    """A sharp test chart: text from 12 to 96 px, groups of one-pixel lines 2 to 8 px apart in
    three directions, a 72-spoke star and colour bars, black on white. What a screenshot, a
    scanned page or a product label sends, and what DCT scaling or a soft resize would blur."""
    image = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    unit = width // 40
    y = unit
    for size in (12, 16, 24, 36, 54, 72, 96):
        font = ImageFont.load_default(size=size)
        draw.text(
            (unit, y),
            f"{size} px: Sphinx of black quartz, judge my vow 0123456789",
            (0, 0, 0),
            font,
        )
        y += size * 3 // 2
    for column, gap in enumerate((2, 3, 4, 6, 8)):
        left, top = unit + column * 5 * unit, height // 2
        for offset in range(0, 4 * unit, gap):
            draw.line((left + offset, top, left + offset, top + 4 * unit), (0, 0, 0))
            draw.line(
                (left, top + 5 * unit + offset, left + 4 * unit, top + 5 * unit + offset), (0, 0, 0)
            )
            draw.line((left + offset, top + 10 * unit, left, top + 10 * unit + offset), (0, 0, 0))
    centre, radius = (width - 8 * unit, height // 2 + 4 * unit), 6 * unit
    for spoke in range(72):
        angle = math.tau * spoke / 72
        end = (centre[0] + radius * math.cos(angle), centre[1] + radius * math.sin(angle))
        draw.line((*centre, *end), (0, 0, 0))
    bars = [(255, 0, 0), (0, 160, 0), (0, 0, 255), (255, 200, 0), (0, 200, 220), (200, 0, 200)]
    for index, colour in enumerate(bars):
        draw.rectangle(
            (
                width - 14 * unit + index * 2 * unit,
                unit,
                width - 12 * unit + index * 2 * unit,
                5 * unit,
            ),
            colour,
        )
    return image


def small_like(fmt: str) -> bytes:
    """A small image of ``fmt`` (JPEG or PNG) for a method's warm-up call."""
    image = cutout(320, 240) if fmt == "PNG" else photo(320, 240)
    buffer = io.BytesIO()
    image.save(buffer, fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return buffer.getvalue()


def _scene() -> Image.Image:
    """Sky over warm ground with a soft horizon and a vignette, 256x256."""
    lin = Image.linear_gradient("L")
    blue = Image.new("L", (256, 256), 230)
    sky = Image.merge(
        "RGB", (lin.point(lambda v: 60 + v // 2), lin.point(lambda v: 110 + v // 3), blue)
    )
    ground = Image.merge(
        "RGB",
        (
            ImageChops.invert(lin).point(lambda v: 90 + v // 3),
            lin.point(lambda v: 120 - v // 4),
            lin.point(lambda v: 40 + v // 6),
        ),
    )
    horizon = lin.point(lambda v: 255 if v > 140 else 0).filter(ImageFilter.GaussianBlur(6))
    scene = Image.composite(ground, sky, horizon)
    vignette = Image.radial_gradient("L").point(lambda v: 255 - v // 3)
    return ImageChops.multiply(scene, Image.merge("RGB", (vignette,) * 3))


def _draw_objects(draw: ImageDraw.ImageDraw, size: tuple[int, int], rng: random.Random) -> None:
    """Filled shapes (hard edges) and thin dark lines (wires, branches)."""
    width, height = size
    for _ in range(18):
        x, y = rng.randrange(width), rng.randrange(height // 3, height)
        w, h = rng.randrange(width // 30, width // 6), rng.randrange(height // 30, height // 4)
        colour = tuple(rng.randrange(30, 230) for _ in range(3))
        kind = rng.randrange(3)
        if kind == 0:
            outline = tuple(c // 2 for c in colour)
            draw.rectangle((x, y, x + w, y + h), fill=colour, outline=outline, width=3)
        elif kind == 1:
            draw.ellipse((x, y, x + w, y + h), fill=colour)
        else:
            corners = [(x + rng.randrange(-w, w), y + rng.randrange(-h, h)) for _ in range(4)]
            draw.polygon(corners, fill=colour)
    for _ in range(40):
        x, y = rng.randrange(width), rng.randrange(height)
        end = (
            x + rng.randrange(-width // 5, width // 5),
            y + rng.randrange(-height // 8, height // 8),
        )
        draw.line((x, y, *end), fill=(20, 20, 25), width=rng.randrange(1, 3))


def _texture_layer(size: tuple[int, int]) -> Image.Image:
    """Grey texture centred on 128: two scales under a smooth mask, plus grain everywhere.

    ``effect_noise`` draws from C's unseeded ``rand()``: the same numbers in every fresh
    process that makes the inputs in the same order, which is how ``write_inputs`` runs.
    """
    mask = _noise(size, 64, 90, 2).point(lambda v: max(0, min(255, (v - 100) * 3)))
    texture = ImageChops.add(_noise(size, 6, 50, 0.7), _noise(size, 2, 30, 0.5), offset=-128)
    texture = Image.composite(texture, Image.new("L", size, 128), mask)
    return ImageChops.add(texture, Image.effect_noise(size, 3), offset=-128)


def _noise(size: tuple[int, int], scale: int, sigma: float, blur: float) -> Image.Image:
    """Gaussian noise made at 1/scale, blurred, stretched back: texture of that grain size."""
    small = (max(1, size[0] // scale), max(1, size[1] // scale))
    noise = Image.effect_noise(small, sigma).filter(ImageFilter.GaussianBlur(blur))
    return noise.resize(size, BICUBIC)
