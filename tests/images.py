"""Test images: made in memory with Pillow, and the path of Pillow's own test images."""

import io
from pathlib import Path

from PIL import Image

# Pillow's own test images with a manifest, vendored in the repository (tests/data/pillow/, its
# README says where they come from and under which licence).
PILLOW_IMAGES = Path(__file__).resolve().parent / "data" / "pillow"
# Files Pillow alone refuses that libpng shows (the app accepts what a mainstream decoder
# shows): an iCCP chunk failing its checksum, which libpng skips.
LIBPNG_SHOWS = {"images/unknown_compression_method.png"}


def shown(row: dict) -> bool:
    """Whether a row of the Pillow corpus manifest is an image the app accepts."""
    return row["pillow_decodes"] or row["file"] in LIBPNG_SHOWS


def encode(image: Image.Image, fmt: str, **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def photo(width: int = 640, height: int = 480, mode: str = "RGB") -> Image.Image:
    """A smooth gradient with a marked top-left corner (red) so orientation can be checked."""
    gradient = Image.linear_gradient("L").resize((width, height))
    image = Image.merge(
        "RGB", (gradient, gradient.transpose(Image.Transpose.FLIP_LEFT_RIGHT), gradient)
    )
    corner = (max(1, width // 8), max(1, height // 8))
    image.paste((255, 0, 0), (0, 0, *corner))
    return image.convert(mode) if mode != "RGB" else image


def jpeg(width: int = 640, height: int = 480, *, orientation: int | None = None, **params) -> bytes:
    """A JPEG photo; with ``orientation``, an EXIF block holding only that tag, else no EXIF.

    Without metadata outside the allow-list the stored original is the upload byte for byte,
    which is what the contract tests compare (an empty EXIF block would be dropped).
    """
    if orientation:
        exif = Image.Exif()
        exif[0x0112] = orientation
        params.setdefault("exif", exif.tobytes())
    return encode(photo(width, height), "JPEG", quality=90, **params)


def png_rgba(width: int = 320, height: int = 240) -> bytes:
    """A red disc-ish square on a fully transparent background."""
    image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    image.paste((255, 0, 0, 255), (width // 4, height // 4, 3 * width // 4, 3 * height // 4))
    return encode(image, "PNG")


def png_bomb(width: int = 12_000, height: int = 12_000) -> bytes:
    """A tiny PNG whose header declares width x height (144 megapixels by default)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    row = zlib.compress(b"\0" * (width + 1))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", row) + chunk(b"IEND", b"")


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image
