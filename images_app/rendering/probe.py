"""Upload policy: what an upload is and whether we accept it, from its header, before any
pixel is decoded.

Pillow parses container headers in Python, block by block, so a 20 MiB file made of tiny
blocks costs it seconds of CPU and hundreds of megabytes before a single pixel is decoded,
and ``n_frames`` on a GIF walks every frame. So we first walk the container ourselves
(``containers``, ``isobmff``: linear in the file's size, with a budget of steps), take the
dimensions and frame count from that walk, check the limits, and only then let Pillow open
the file, and only to read its header.

For HEIC and AVIF the pixel count is what decoding the primary picture allocates: each coded
picture (a grid's tiles one by one, an alpha plane) at the larger of its declared size
(``ispe``) and the size in the codec's own header, which is what libde265 and dav1d trust.
The displayed size comes from Pillow, as the engines read it: pillow-heif applies
``clap``/``irot``/``imir`` and clears the EXIF tag, Pillow's AVIF plugin turns ``irot``/``imir``
into the EXIF tag; either way the EXIF orientation tag a HEIF file carries itself is ignored, as
the HEIF standard says. Pillow's AVIF plugin leaves the crop (``clap``) undone, so an AVIF's
displayed size is our walk's (``isobmff.displayed_size``), which both engines draw.

Thread safety: nothing here touches global state per call. Pillow's
``DecompressionBombWarning`` fires inside ``Image.open`` above ``Image.MAX_IMAGE_PIXELS``;
our own limit, never above Pillow's, is checked from our walk before that, so it can't fire
for the formats we walk. As a second line (other formats, ``render()`` called on its own)
the warning is an error for the whole process (see ``runtime``).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image

from .containers import Layout, read_layout, without_damaged_chunks
from .errors import InvalidImage, not_an_image
from .formats import HEIF_FORMATS, content_type, extension

MAX_FRAMES = 1000  # default frame limit: a long animated GIF, far from a flip-book bomb
# Default memory budget for decoding one upload: every 8-bit image up to 60 megapixels fits
# (60 MP of RGBA is 229 MiB); a 16-bit one that large does not.
MAX_DECODE_BYTES = 256 * 1024 * 1024
# Default ceiling of declared pixels per byte of file. Real photos take 10 to 150; flat colour
# at 60 MP, the most compressible thing an encoder makes, 20,000 to 26,000 (lossless WebP,
# AVIF); a 38-byte lossless WebP declaring 60 MP, 1.6 million.
MAX_PIXELS_PER_BYTE = 50_000
_RATIO_FLOOR = 16 * 1024 * 1024  # below this much memory, a high ratio harms nobody

# Orientation values 5..8 swap width and height when applied.
_TRANSPOSED = {5, 6, 7, 8}


@dataclass(frozen=True)
class SourceInfo:
    format: str  # Pillow's name: JPEG, PNG, GIF, WEBP, HEIF (HEIC), AVIF
    width: int  # as displayed, after EXIF orientation
    height: int
    frames: int
    mode: str

    @property
    def extension(self) -> str:
        return extension(self.format)

    @property
    def content_type(self) -> str:
        return content_type(self.format)


def inspect_image(
    data: bytes,
    *,
    formats: Sequence[str],
    max_pixels: int,
    max_frames: int = MAX_FRAMES,
    max_decode_bytes: int = MAX_DECODE_BYTES,
    max_pixels_per_byte: int = MAX_PIXELS_PER_BYTE,
) -> SourceInfo:
    """Sniff the format from the bytes and check the limits; raise InvalidImage if refused.

    Reads headers only: a file can pass here and still fail to decode in ``render()``
    (a truncated one, say), which raises InvalidImage too. The memory a decode needs
    (declared pixels x bytes per pixel) is checked against ``max_decode_bytes``, and the
    declared pixels against ``max_pixels_per_byte`` times the file's size.
    """
    if not data:
        raise InvalidImage("The submitted file is empty.")
    limit = min(max_pixels, Image.MAX_IMAGE_PIXELS or max_pixels)
    memory = _Memory(len(data), max_decode_bytes, max_pixels_per_byte)
    layout = _walk(data, formats, max_frames)
    if layout is not None and layout.size is not None:
        area = _check_limits(*layout.size, layout.frames, limit, max_frames, layout.pixels)
        memory.check_budget(area, layout.bytes_per_pixel)
    if layout is not None and layout.refusal is not None:
        raise layout.refusal
    if layout is not None and layout.size is not None:
        memory.check_ratio(area, layout.bytes_per_pixel)
    info = _open(data, formats, layout, limit)
    area = _check_limits(info.width, info.height, info.frames, limit, max_frames)
    if layout is None or layout.size is None:
        memory.check_budget(area, 4)
        memory.check_ratio(area, 4)
    return info


@dataclass(frozen=True)
class _Memory:
    """What decoding may cost: a budget in bytes, and pixels per byte of the file."""

    size: int
    budget: int
    ratio: int

    def check_budget(self, pixels: int, bytes_per_pixel: int) -> None:
        needed = pixels * bytes_per_pixel
        if needed > self.budget:
            raise InvalidImage(
                f"Image needs {_mebibytes(needed)} MiB of memory to decode "
                f"({_megapixels(pixels)} megapixels at {bytes_per_pixel} bytes each); "
                f"the limit is {_mebibytes(self.budget)} MiB."
            )

    def check_ratio(self, pixels: int, bytes_per_pixel: int) -> None:
        if pixels * bytes_per_pixel <= _RATIO_FLOOR or pixels <= self.ratio * self.size:
            return
        raise InvalidImage(
            f"Upload a valid image: this file declares {_megapixels(pixels)} megapixels in "
            f"only {self.size} bytes ({pixels // self.size:,} pixels per byte); no real image "
            f"compresses beyond {self.ratio:,}, so it is refused as a decompression bomb."
        )


def _walk(data: bytes, formats: Sequence[str], max_frames: int) -> Layout | None:
    try:
        return read_layout(data, formats, max_frames)
    except InvalidImage:
        raise
    except Exception as exc:  # a slip in our own walk over hostile bytes must not be a 500
        raise not_an_image(formats) from exc


def _open(data: bytes, formats: Sequence[str], layout: Layout | None, limit: int) -> SourceInfo:
    try:
        readable = without_damaged_chunks(data)  # as libpng reads it, and engines.render
        with Image.open(io.BytesIO(readable), formats=list(formats)) as image:
            _check_mpo_index(image)
            fmt = "JPEG" if image.format == "MPO" else image.format
            same = layout is not None and layout.format == fmt
            if layout is not None and layout.format in HEIF_FORMATS and not same:
                # pillow-heif opens AVIF too, and then can't decode it: list "AVIF" first.
                raise ValueError(f"Pillow read a {layout.format} file as {fmt}")
            frames = layout.frames if same else getattr(image, "n_frames", 1)
            width, height = image.size
            if _orientation(image) in _TRANSPOSED:
                width, height = height, width
            if same and fmt == "AVIF" and layout.shown is not None:
                width, height = layout.shown  # cropped (clap): Pillow's plugin leaves it undone
            return SourceInfo(fmt, width, height, frames, image.mode)
    except InvalidImage:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InvalidImage(
            f"Image is too large; the limit is {_megapixels(limit)} megapixels."
        ) from exc
    except Exception as exc:  # Pillow raises many types on hostile input; all mean "not an image"
        if layout is not None and layout.format == "AVIF" and layout.shown is not None:
            # Derived primary items, some alpha layouts: libheif (the vips engine) decodes
            # what Pillow's AVIF plugin can't open; render() says if neither can.
            mode = "RGBA" if layout.alpha else "RGB"
            return SourceInfo("AVIF", *layout.shown, layout.frames, mode)
        raise not_an_image(formats) from exc


def _check_mpo_index(image: Image.Image) -> None:
    # Pillow falls back to plain JPEG with a warning when the MPO index is malformed; we can't
    # catch warnings thread-safely, so ask the same question directly.
    if image.format in ("JPEG", "MPO"):
        image._getmp()  # raises SyntaxError on a malformed index


def _orientation(image: Image.Image) -> int | None:
    # Not image.getexif(): on a PNG it decodes the whole image looking for a late eXIf chunk,
    # and it takes XMP's tiff:Orientation, which browsers and libvips ignore.
    return exif_orientation(image.info.get("exif") or b"")


def exif_orientation(exif: bytes) -> int | None:
    """The EXIF orientation tag as Pillow parses it; None if absent or unreadable."""
    try:
        parsed = Image.Exif()
        parsed.load(exif)
        value = parsed.get(0x0112)
    except Exception:  # a broken EXIF block doesn't make a broken image
        return None
    return value if isinstance(value, int) else None  # hostile tags hold tuples, bytes, ...


def _check_limits(
    width: int, height: int, frames: int, limit: int, max_frames: int, pixels: int | None = None
) -> int:
    """The pixels one frame decodes to, after checking them against the limits."""
    area = max(width * height, pixels or 0)  # pixels: what decoding allocates, where known
    if area > limit:
        raise InvalidImage(
            f"Image is {_megapixels(area)} megapixels; the limit is {_megapixels(limit)}."
        )
    if frames > max_frames:
        raise InvalidImage(f"Image has too many frames; the limit is {max_frames}.")
    if area * frames > limit:
        raise InvalidImage(
            f"Image is {_megapixels(area * frames)} megapixels across its {frames} "
            f"frames; the limit is {_megapixels(limit)}."
        )
    return area


def _mebibytes(size: int) -> str:
    return f"{size / 2**20:.0f}"


def _megapixels(pixels: int) -> str:
    value = pixels / 1_000_000
    return f"{value:.0f}" if value >= 10 else f"{value:.2g}"  # 144, 8.3, 0.5
