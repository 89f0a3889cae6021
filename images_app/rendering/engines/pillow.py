"""The Pillow engine: as fast as Pillow allows, the same pictures as the libvips engine.

JPEG draft (DCT scaling) where the largest rendition leaves room, one premultiplied LANCZOS
resize to it split into two strips on two threads, colour and orientation on the result,
the rest cascaded from it, encodes in the shared thread pool (Pillow releases the GIL).
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from PIL import Image, ImageCms

from ..containers import LibavifPlan, libavif_plan
from ..probe import exif_orientation, not_an_image
from .base import (
    ORIENTATIONS,
    PNG_COMPRESSION,
    REDUCING_GAP,
    BaseEngine,
    Size,
    Source,
    shrink_factor,
    stored,
    usable_profile,
)

_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
# Split resizes producing more pixels than this over two threads; below it, not worth a thread.
_STRIP_PIXELS = 1_000_000
_WHITE = {"L": 255, "RGB": (255, 255, 255)}
_PREMULTIPLIED = {"RGBA": "RGBa", "LA": "La"}


class PillowEngine(BaseEngine):
    """Pillow only: works wherever Pillow does; see BaseEngine for the plan."""

    # Pillow resizes a 12 MP decode to 1600 px in 155 ms of CPU (2048 -> 1600: 61 ms), and
    # keeping its 4-byte pixels for it takes a 24 MP upload to 74 MiB (budget 64): here the
    # renditions cascade from the largest, at 39.0 dB (the sharp chart's 1600) instead of 52.
    cascade_from_decode = False

    def open(self, data: bytes, formats: Sequence[str]) -> Source:
        plan = libavif_plan(data)
        if plan.refusal is not None:
            raise plan.refusal
        try:
            image = Image.open(io.BytesIO(data), formats=list(formats))
        except Exception as exc:  # Pillow raises many types on hostile input
            raise not_an_image(formats) from exc
        orientation = _orientation(image)
        image = _cropped(image, plan, formats)
        size = (image.height, image.width) if orientation in (5, 6, 7, 8) else image.size
        return Source(image.format, formats, size, orientation, image)

    def load(self, source: Source, size: Size) -> tuple[Image.Image, bool]:
        image = source.handle
        factor = 1
        try:
            if source.format == "JPEG":
                factor = shrink_factor(image.size, stored(size, source.orientation))
            if factor > 1:
                image.draft(image.mode, (image.width // factor, image.height // factor))
            image.load()
        except Exception as exc:
            raise not_an_image(source.formats) from exc
        source.icc = image.info.get("icc_profile")
        source.decoded_by = f"pillow 1/{factor}"
        return _normalize(image)

    def finish(self, decoded: Image.Image, source: Source, size: Size) -> Image.Image:
        image = _to_srgb(self.resize(decoded, stored(size, source.orientation)), source.icc)
        if source.orientation in ORIENTATIONS:
            image = image.transpose(ORIENTATIONS[source.orientation])
        if image is decoded:
            image = image.copy()  # the rendition's info is cleared below, not the decode's
        image.info = {}  # else Pillow writes some of it (ICC, comments) into some formats
        return image

    def resize(self, image: Image.Image, size: Size) -> Image.Image:
        if image.size == size:
            return image
        mode = image.mode
        image = image.convert(_PREMULTIPLIED[mode]) if mode in _PREMULTIPLIED else image
        if size[0] * size[1] > _STRIP_PIXELS:
            image = _resize_in_strips(image, size)
        else:
            image = image.resize(size, Image.Resampling.LANCZOS, reducing_gap=REDUCING_GAP)
        return image.convert(mode) if image.mode != mode else image

    def encode(self, image: Image.Image, fmt: str, quality: int) -> bytes:
        if fmt == "JPEG" and image.mode in ("RGBA", "LA"):
            image = _flatten(image)
        buffer = io.BytesIO()
        if fmt == "JPEG":
            # 4:2:0 below q90, as libvips' default: the smaller file where the eye can't tell.
            subsampling = 0 if quality >= 90 else 2
            image.save(buffer, "JPEG", quality=quality, subsampling=subsampling)
        elif fmt == "PNG":
            # zlib's run-length strategy on Pillow's filtered rows: about the size of level 3
            # on photos and of level 6 on graphics, in two thirds of level 3's time (measured).
            image.save(buffer, "PNG", compress_level=PNG_COMPRESSION, compress_type=zlib.Z_RLE)
        else:
            image.save(buffer, "WEBP", quality=quality, method=4)
        return buffer.getvalue()


def _orientation(image: Image.Image) -> int:
    """The EXIF orientation tag, 1 where it is missing, invalid or its EXIF block unreadable.

    Only the EXIF tag, as the probe, libvips and browsers read it: ``getexif()`` would also
    take XMP's ``tiff:Orientation`` (and decode a whole PNG looking for a late eXIf chunk).
    """
    orientation = exif_orientation(image.info.get("exif") or b"")
    return orientation if orientation in ORIENTATIONS else 1


def _cropped(image: Image.Image, plan: LibavifPlan, formats: Sequence[str]) -> Image.Image:
    """An AVIF cropped to its clean aperture (``clap``), which Pillow's AVIF plugin leaves
    undone (libheif, the vips engine, applies it). The crop is in the coded picture, before
    the orientation the plugin reports for ``irot``/``imir``: HEIF's order. This decodes."""
    if plan.crop is None or image.format != "AVIF" or image.size != plan.coded:
        return image  # nothing to crop, or a decoder that cropped already
    try:
        return image.crop(plan.crop)
    except Exception as exc:
        raise not_an_image(formats) from exc


def _normalize(image: Image.Image) -> tuple[Image.Image, bool]:
    """Bring any decoded mode to L, LA, RGB, RGBA or CMYK, dropping an alpha that is all 255."""
    if image.mode.startswith("I;16"):
        # Keep the high byte of each sample, as libvips does.
        raw = image.tobytes("raw", "I;16")
        image = Image.frombytes("L", image.size, raw, "raw", "L;16")
    elif image.mode == "1":
        image = image.convert("L")
    elif "transparency" in image.info or image.mode in ("P", "PA"):
        has_alpha = "transparency" in image.info or image.mode == "PA"
        image = image.convert(("LA" if image.mode == "L" else "RGBA") if has_alpha else "RGB")
    elif image.mode not in ("L", "LA", "RGB", "RGBA", "CMYK"):
        image = image.convert("RGBA" if "A" in image.mode else "RGB")
    if image.mode in ("RGBA", "LA"):
        if image.getchannel("A").getextrema()[0] == 255:
            return image.convert(image.mode[:-1]), False
        return image, True
    return image, False


def _to_srgb(image: Image.Image, icc: bytes | None) -> Image.Image:
    """Convert through the embedded ICC profile, else take RGB/L as sRGB and CMYK as plain."""
    profile = usable_profile(icc, len(image.mode.removesuffix("A")))  # CMYK keeps its 4
    if profile is None:
        return image.convert("RGB") if image.mode == "CMYK" else image
    alpha = image.getchannel("A") if image.mode in ("RGBA", "LA") else None
    colour = image.convert(image.mode[:-1]) if alpha else image  # lcms: colour bands only
    colour = ImageCms.profileToProfile(colour, profile, _SRGB, outputMode="RGB")
    if alpha is not None:
        colour.putalpha(alpha)
    return colour


def _resize_in_strips(image: Image.Image, size: Size) -> Image.Image:
    """One resize as two halves on two threads (Pillow releases the GIL while resampling).

    Pillow samples outside the ``box`` where the filter reaches, so the halves join without a
    seam: the pixels match a single resize to within one level.
    """
    width, height = size
    split = height // 2
    middle = image.height * split / height
    boxes = [(0, 0, image.width, middle), (0, middle, image.width, image.height)]
    heights = [split, height - split]
    with ThreadPoolExecutor(2) as pool:
        halves = list(
            pool.map(
                lambda box, rows: image.resize(
                    (width, rows), Image.Resampling.LANCZOS, box=box, reducing_gap=REDUCING_GAP
                ),
                boxes,
                heights,
            )
        )
    result = Image.new(image.mode, size)
    result.paste(halves[0], (0, 0))
    result.paste(halves[1], (0, split))
    return result


def _flatten(image: Image.Image) -> Image.Image:
    background = Image.new(image.mode[:-1], image.size, _WHITE[image.mode[:-1]])
    background.paste(image, mask=image.getchannel("A"))
    return background
