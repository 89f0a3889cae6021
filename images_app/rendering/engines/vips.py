"""The libvips engine (pyvips): the default wherever pyvips imports.

JPEGs (RGB and grey) are decoded by libjpeg-turbo's TurboJPEG API (``turbo``), shrunk on load
where the largest rendition leaves room, straight into memory that libvips resizes from;
every other format, and the JPEGs ``turbo`` leaves out (CMYK, damaged), by the libvips loader
of the sniffed format only, never libvips' generic one. The decode stays in memory while the
renditions that are made from it are resized (BaseEngine's plan): a 24 MP photo shrinks to
6 MP on load, 18 MB. Every output size comes from ``fit_inside``, not from libvips.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyvips

from ..containers import read_layout, signature_format
from ..errors import InvalidImage
from ..probe import not_an_image
from . import Output, turbo
from .base import (
    LOAD_GAP,
    ORIENTATIONS,
    PNG_COMPRESSION,
    REDUCING_GAP,
    WORKERS,
    BaseEngine,
    Size,
    Source,
    shrink_factor,
    source_format,
    stored,
    usable_profile,
)
from .pillow import PillowEngine
from .resample import FAST

# libvips' operation cache is turned off in ``rendering.runtime``: each upload is unique.

_LOADERS = {
    "JPEG": pyvips.Image.jpegload_buffer,
    "PNG": pyvips.Image.pngload_buffer,
    "GIF": pyvips.Image.gifload_buffer,  # first frame only (n=1 is the default)
    "WEBP": pyvips.Image.webpload_buffer,
    # libheif in pyvips-binary decodes AV1 (AVIF) but not HEVC: HEIC is the Pillow engine's.
    "AVIF": pyvips.Image.heifload_buffer,
}
# EXIF orientation -> libvips operations that show the image upright (EXIF 2.32, 4.6.4).
_UPRIGHT = {
    2: ("fliphor",),
    3: ("rot180",),
    4: ("flipver",),
    5: ("rot90", "fliphor"),
    6: ("rot90",),
    7: ("rot270", "fliphor"),
    8: ("rot270",),
}


_NSGIF_SCREEN = 2048  # the largest screen side libnsgif (libvips' GIF loader) believes


def _screen_ignored(data: bytes) -> bool:
    """Whether libvips shows this GIF at another size than its screen, as the probe and Pillow
    measure it: libnsgif takes the frames' extent instead of a screen over 2048 pixels a side
    (a GIF87a of 65300 x 12 with one 20 x 12 frame: libvips 20 x 12, Pillow 65300 x 12). Such a
    file is the Pillow engine's, so that the renditions have the size the API reports."""
    layout = read_layout(data, ["GIF"], 1)  # stops after the first frame
    if layout is None or layout.size is None or max(layout.size) <= _NSGIF_SCREEN:
        return False  # no second parse of an ordinary GIF
    try:
        header = pyvips.Image.gifload_buffer(data)
    except pyvips.Error:
        return False  # open() refuses it with the message
    return layout.size != (header.width, header.height)


class VipsEngine(BaseEngine):
    """libvips: decode, resize and colour stream strip by strip; see BaseEngine for the plan."""

    # The formats this engine decodes (the routing rule, engines.decoder_for): its loader
    # table. HEIF is not in it, so HEIC goes to the Pillow engine whole.
    decodes = frozenset(_LOADERS)

    def render(self, data, specs, *, formats, on_output=None, threads=WORKERS) -> list[Output]:
        # 4:2:0 colour JPEGs, most uploads, take the planar path where fast_image_resize
        # resizes its planes: a third less wall time than the plan below (docs/renderer.md).
        fmt = signature_format(data)
        if FAST and turbo.simplejpeg is not None and fmt == "JPEG":
            planar = PillowEngine().render_planar
            try:
                outputs = planar(data, specs, formats=formats, on_output=on_output, threads=threads)
            except InvalidImage:  # libvips has the last word on a JPEG Pillow refuses
                outputs = None
            if outputs is not None:
                return outputs
        if fmt == "GIF" and _screen_ignored(data):
            pillow = PillowEngine()
            return pillow.render(data, specs, formats=formats, on_output=on_output, threads=threads)
        return super().render(data, specs, formats=formats, on_output=on_output, threads=threads)

    def open(self, data: bytes, formats: Sequence[str]) -> Source:
        fmt = source_format(data, formats)
        try:
            header = _load(fmt, data)
        except pyvips.Error as exc:
            raise not_an_image(formats) from exc
        orientation = header.get("orientation") if header.get_typeof("orientation") else 1
        orientation = orientation if orientation in ORIENTATIONS else 1
        size = stored((header.width, header.height), orientation)
        return Source(fmt, formats, size, orientation, (data, header))

    def load(self, source: Source, size: Size) -> tuple[pyvips.Image, bool]:
        data, header = source.handle
        factor, pixels = 1, None
        if header.get_typeof("icc-profile-data"):
            source.icc = header.get("icc-profile-data")
        if source.format == "JPEG":
            target = stored(size, source.orientation)
            factor = shrink_factor((header.width, header.height), target)
            decoded = (header.width // factor, header.height // factor)
            reduced = all(d >= LOAD_GAP * t for d, t in zip(decoded, target, strict=True))
            pixels = turbo.decode(data, factor, reduced=reduced)
        try:
            if pixels is not None:
                height, width, bands = pixels.shape
                image = pyvips.Image.new_from_memory(pixels.data, width, height, bands, "uchar")
                image = image.copy(interpretation="srgb" if bands == 3 else "b-w")
                if source.icc:  # where _to_srgb's icc_transform(embedded=True) reads it
                    image.set_type(pyvips.GValue.blob_type, "icc-profile-data", source.icc)
                source.decoded_by = f"turbojpeg 1/{factor}"
            else:
                options = {"shrink": factor} if factor > 1 else {}
                # In memory: the largest renditions are each resized from it (BaseEngine).
                image = _load(source.format, data, **options).copy_memory()
                source.decoded_by = f"libvips 1/{factor}"
            return _normalize(image)
        except pyvips.Error as exc:
            raise not_an_image(source.formats) from exc

    def finish(self, decoded: pyvips.Image, source: Source, size: Size) -> pyvips.Image:
        try:
            # Resize and colour conversion stream through here, strip by strip.
            image = _to_srgb(_resize(decoded, stored(size, source.orientation)), source.icc)
            image = image.copy_memory()
        except pyvips.Error as exc:  # a profile lcms accepted but libvips can't apply
            raise not_an_image(source.formats) from exc
        for operation in _UPRIGHT.get(source.orientation, ()):
            image = getattr(image, operation)()
        return image.copy_memory() if source.orientation != 1 else image

    def resize(self, image: pyvips.Image, size: Size) -> pyvips.Image:
        return _resize(image, size).copy_memory()

    def encode(self, image: pyvips.Image, fmt: str, quality: int) -> bytes:
        if fmt == "JPEG" and image.hasalpha():
            image = image.flatten(background=[255] * (image.bands - 1))
        if fmt == "JPEG":
            # 4:2:0 below q90 (libvips' own default, made explicit to match Pillow).
            subsample = "off" if quality >= 90 else "on"
            return image.jpegsave_buffer(Q=quality, keep="none", subsample_mode=subsample)
        if fmt == "PNG":
            # The "up" filter: within a few percent of adaptive filtering's size on photos and
            # graphics alike, at a fraction of its time (measured on libvips 8.18).
            return image.pngsave_buffer(compression=PNG_COMPRESSION, filter="up", keep="none")
        return image.webpsave_buffer(Q=quality, keep="none", effort=4)


def _load(fmt: str, data: bytes, **options) -> pyvips.Image:
    # fail_on="truncated": refuse cut-off files as Pillow does, tolerate what Pillow tolerates.
    return _LOADERS[fmt](data, access="sequential", fail_on="truncated", **options)


def _normalize(image: pyvips.Image) -> tuple[pyvips.Image, bool]:
    """8 bits per sample, and no alpha channel unless some pixel is not fully opaque."""
    if image.format == "ushort":  # keep the high byte, as Pillow's decoders do
        bands = image.bands
        interpretation = "b-w" if bands < 3 else "srgb"
        image = (image >> 8).cast("uchar").copy(interpretation=interpretation)
    if not image.hasalpha():
        return image, False
    image = image.copy_memory()  # looked at twice: for the alpha test, then to resize
    if image[image.bands - 1].min() == 255:
        return image.extract_band(0, n=image.bands - 1), False
    return image, True


def _resize(image: pyvips.Image, size: Size) -> pyvips.Image:
    """LANCZOS3 to exactly ``size``, premultiplied when there is an alpha channel."""
    width, height = size
    if (image.width, image.height) == size:
        return image
    alpha = image.hasalpha()
    if alpha:
        # Back to 8 bits before resizing, as Pillow's RGBa: libvips' float resize is 5x slower,
        # and the loss only touches colours under near-zero alpha, which nobody sees.
        image = image.premultiply().rint().cast("uchar")
    image = image.resize(width / image.width, vscale=height / image.height, gap=REDUCING_GAP)
    if alpha:
        image = image.unpremultiply().rint().cast("uchar")
    return image


def _to_srgb(image: pyvips.Image, icc: bytes | None) -> pyvips.Image:
    """Convert through the embedded ICC profile, else take RGB/grey as sRGB, CMYK as plain."""
    colour_bands = image.bands - (1 if image.hasalpha() else 0)
    if usable_profile(icc, colour_bands) is not None:
        return image.icc_transform("srgb", embedded=True, intent="perceptual")
    if image.interpretation == "cmyk":
        # No profile: the plain formula, as browsers (and Pillow) do.
        cmy, black = image.extract_band(0, n=3), image[3]
        rgb = (255 - cmy) * (255 - black) / 255
        return rgb.rint().cast("uchar").copy(interpretation="srgb")
    return image
