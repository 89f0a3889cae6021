"""HEIC and AVIF shown as libheif shows them, on both engines: the clean aperture (``clap``)
cropped before the rotation and mirror, layered AV1 pictures (``a1lx``, ``lsel``), and alpha
planes that libheif reads and libavif (Pillow's AVIF plugin) does not.

Every file is made here: encoded by Pillow (libavif) or pillow-heif (x265), then its items
laid out again by ``heif.build`` with the properties each case needs. The references are
independent of our code: libheif (libvips' heifload, which applies ``clap``, ``irot`` and
``imir`` itself) and a crop of the decoded picture without the property, turned by Pillow.
"""

from __future__ import annotations

import io
import struct

import pytest
import pyvips
from PIL import Image, ImageChops, ImageStat

from images_app.rendering import InvalidImage, parse_spec, render

from . import heif
from .corpus import FORMATS, inspect, refusal

assert heif.HEIC_OK and heif.AVIF_OK  # pinned requirements: these never skip
SIZE = (96, 64)


def gradient(size=SIZE) -> Image.Image:
    """Red grows 2 a column, green 3 a row: a crop one pixel off changes every pixel."""
    width, height = size
    red = bytes(min(255, 2 * x) for _ in range(height) for x in range(width))
    green = bytes(min(255, 3 * y) for y in range(height) for _ in range(width))
    bands = (red, green, bytes([128]) * (width * height))
    return Image.merge("RGB", [Image.frombytes("L", size, band) for band in bands])


def avif_source(image=None) -> bytes:
    buffer = io.BytesIO()
    (image or gradient()).save(buffer, "AVIF", quality=95, subsampling="4:4:4")
    return buffer.getvalue()


def heic_source() -> bytes:
    buffer = io.BytesIO()
    gradient().save(buffer, "HEIF", quality=95)
    return buffer.getvalue()


def clap(width, height, x, y, denominators=(1, 1, 1, 1)) -> bytes:
    """A ``clap`` box: size and the centre's offset from the picture's, as fractions."""
    wd, hd, xd, yd = denominators
    return heif.box(b"clap", struct.pack(">IIIIiIiI", width, wd, height, hd, x, xd, y, yd))


def with_primary(data: bytes, *properties: bytes, drop=()) -> bytes:
    """``data`` laid out again with ``properties`` on its primary item, replacing any of the
    same kind, and without the kinds in ``drop``."""
    parts, primary = heif.items_of(data), heif.primary_of(data)
    kinds = {prop[4:8] for prop in properties} | set(drop)
    (item,) = [part for part in parts if part.id == primary]
    kept = [prop for prop in item.properties if prop[4:8] not in kinds]
    return heif.build(heif.edit(parts, primary, properties=kept + list(properties)), primary)


def rendered(data: bytes, engine: str) -> Image.Image:
    """The engine's lossless rendition at the size the file shows."""
    (output,) = render(
        data, [parse_spec("x", "max-4096x4096|format-png")], formats=FORMATS, engine=engine
    )
    return Image.open(io.BytesIO(output.data)).convert("RGB")


def libheif(data: bytes) -> Image.Image:
    """What libheif shows (libvips' heifload applies clap, irot and imir)."""
    image = pyvips.Image.heifload_buffer(data)
    return Image.frombytes("RGB", (image.width, image.height), image[:3].write_to_memory())


def difference(a: Image.Image, b: Image.Image) -> tuple[float, int]:
    """The mean and the largest difference of a sample (the sizes must match)."""
    assert a.size == b.size
    diff = ImageChops.difference(a, b)
    extrema = diff.getextrema()
    largest = max(high for _, high in extrema) if diff.getbands()[1:] else extrema[1]
    return sum(ImageStat.Stat(diff).mean) / len(diff.getbands()), largest


# HEIF's transforms, applied to a picture in the order it says: irot (anticlockwise quarter
# turns), then imir (ISO/IEC 23008-12:2022 "mode": 0 swaps top and bottom, 1 left and right).
def transformed(image: Image.Image, irot: int | None, imir: int | None) -> Image.Image:
    turns = {
        1: Image.Transpose.ROTATE_90,
        2: Image.Transpose.ROTATE_180,
        3: Image.Transpose.ROTATE_270,
    }
    if irot in turns:
        image = image.transpose(turns[irot])
    if imir is not None:
        image = image.transpose(
            Image.Transpose.FLIP_TOP_BOTTOM if imir == 0 else Image.Transpose.FLIP_LEFT_RIGHT
        )
    return image


def transform_boxes(irot, imir) -> list[bytes]:
    boxes = [] if irot is None else [heif.box(b"irot", bytes([irot]))]
    return boxes + ([] if imir is None else [heif.box(b"imir", bytes([imir]))])


# (clap arguments, the rectangle it crops: left, top, width, height of the 96 x 64 picture)
CROPS = {
    # 40 x 30 whose left edge is -20 + (96 - 40) / 2 = 8 and top -10 + (64 - 30) / 2 = 7.
    "whole-numbers": ((40, 30, -20, -10), (8, 7, 40, 30)),
    # Centred, odd sizes: left (96 - 41) / 2 = 27.5 rounds down, top (64 - 21) / 2 = 21.5
    # rounds to 22, as libheif rounds them.
    "halves": ((41, 21, 0, 0), (27, 22, 41, 21)),
    # Fractions: 121/3 x 60/2 at -21/2, 10/4 from the centre: left 17 1/3 rounds down to 17,
    # its right edge (17 + 40 1/3) to 57; top 19 1/2 rounds to 20.
    "fractions": ((121, 60, -21, 10, (3, 2, 2, 4)), (17, 20, 40, 30)),
    "whole-picture": ((96, 64, 0, 0), (0, 0, 96, 64)),
}
TRANSFORMS = [(None, None), (1, None), (3, 0), (None, 1), (2, 1)]


@pytest.mark.parametrize("crop", CROPS.values(), ids=CROPS)
@pytest.mark.parametrize(("irot", "imir"), TRANSFORMS, ids=lambda value: str(value))
def test_an_avif_crop_is_applied_before_its_turn_and_mirror_on_both_engines(crop, irot, imir):
    (args, (left, top, width, height)) = crop
    source = avif_source()
    data = with_primary(source, clap(*args), *transform_boxes(irot, imir))
    # The references: libheif's own picture, and the plain file cropped and turned by Pillow.
    reference = libheif(data)
    with Image.open(io.BytesIO(source)) as plain:
        cropped = plain.convert("RGB").crop((left, top, left + width, top + height))
    expected = transformed(cropped, irot, imir)
    assert reference.size == expected.size
    assert difference(reference, expected)[0] < 1.0  # libheif crops where we computed
    info = inspect(data)
    assert (info.width, info.height) == expected.size
    pictures = {engine: rendered(data, engine) for engine in ("vips", "pillow")}
    for engine, picture in pictures.items():
        mean, largest = difference(picture, expected)
        assert mean < 1.0 and largest <= 4, (engine, mean, largest)
    mean, largest = difference(pictures["vips"], pictures["pillow"])
    assert mean < 1.0 and largest <= 4


@pytest.mark.parametrize(("irot", "imir"), TRANSFORMS[:3], ids=lambda value: str(value))
@pytest.mark.parametrize("engine", ["vips", "pillow"])
def test_a_heic_crop_is_applied_before_its_turn_and_mirror(engine, irot, imir):
    # x265 codes whole blocks, so pillow-heif's HEIC is 96 x 64 already; crop 40 x 30 at (8, 7).
    source = heic_source()
    data = with_primary(source, clap(40, 30, -20, -10), *transform_boxes(irot, imir))
    with Image.open(io.BytesIO(with_primary(source, drop=[b"clap"]))) as plain:
        expected = transformed(plain.convert("RGB").crop((8, 7, 48, 37)), irot, imir)
    info = inspect(data)
    assert (info.format, info.width, info.height) == ("HEIF", *expected.size)
    mean, largest = difference(rendered(data, engine), expected)
    assert mean < 1.0 and largest <= 4


def _transparent(crop_alpha: bool) -> bytes:
    image = gradient().convert("RGBA")
    image.putalpha(Image.linear_gradient("L").resize(SIZE))
    source = avif_source(image)
    parts, primary = heif.items_of(source), heif.primary_of(source)
    cropped = [p.id for p in parts if p.id == primary or (crop_alpha and b"auxl" in p.refs)]
    crop = clap(40, 30, -20, -10)
    parts = [
        heif.edit([p], p.id, properties=[*p.properties, crop])[0] if p.id in cropped else p
        for p in parts
    ]
    return source, heif.build(parts, primary)


def test_an_avif_crop_crops_its_alpha_plane_alike(engine):
    # libheif (and every encoder) gives the alpha plane the picture's crop.
    source, data = _transparent(crop_alpha=True)
    (output,) = render(data, [parse_spec("x", "max-4096x4096")], formats=FORMATS, engine=engine)
    assert (output.format, output.width, output.height) == ("PNG", 40, 30)
    with Image.open(io.BytesIO(source)) as plain, Image.open(io.BytesIO(output.data)) as shown:
        expected = plain.getchannel("A").crop((8, 7, 48, 37))
        assert difference(shown.getchannel("A"), expected)[1] <= 2
        assert difference(shown.getchannel("A"), libheif_alpha(data))[1] <= 2


def libheif_alpha(data: bytes) -> Image.Image:
    image = pyvips.Image.heifload_buffer(data)
    return Image.frombytes("L", (image.width, image.height), image[3].write_to_memory())


def test_a_crop_of_the_picture_only_is_refused_as_decoders_disagree_on_its_alpha():
    # libheif squeezes the uncropped alpha plane onto the cropped picture (its top row shows
    # the plane's top row, its bottom row the plane's bottom row); cropping the RGBA decode,
    # as libavif's callers do, shows another picture.
    source, data = _transparent(crop_alpha=False)
    squeezed = libheif_alpha(data)
    with Image.open(io.BytesIO(source)) as plain:
        assert difference(squeezed, plain.getchannel("A").crop((8, 7, 48, 37)))[1] > 50
    assert refusal(data) == (
        "Upload a valid image: this AVIF file crops its picture (clean aperture, 'clap') but "
        "not its transparency (alpha) plane alike, which decoders show differently; save it "
        "again without the crop, or as PNG."
    )


@pytest.mark.parametrize(
    ("box", "problem"),
    [
        (clap(40, 30, 0, 0, (1, 0, 1, 1)), "has a zero denominator."),
        (
            clap(40, 30, 40, 0),
            "of 40 x 30 pixels at offset (40, 0) from the centre does not fit inside the 96 x "
            "64 picture.",
        ),
        (clap(97, 64, 0, 0), "does not fit inside the 96 x 64 picture."),
        (
            clap(0, 30, 0, 0),
            "is less than a pixel wide.",
        ),
        (heif.box(b"clap", clap(40, 30, 0, 0)[8:-4]), "is cut short."),
    ],
    ids=["zero-denominator", "outside", "too-wide", "empty", "cut-short"],
)
@pytest.mark.parametrize("make", [avif_source, heic_source], ids=["avif", "heic"])
def test_a_malformed_crop_is_refused_naming_it(make, box, problem):
    message = refusal(with_primary(make(), box))
    assert message.startswith("Upload a valid image: this ")
    assert "is damaged: its crop (clean aperture, 'clap') " in message
    assert message.endswith(problem)


# --- Layered AV1 (a1lx, lsel) ------------------------------------------------------------------


def a1lx(*sizes: int) -> bytes:
    """The layer sizes of an AV1 item in bytes, all but the last (0: the rest)."""
    return heif.box(b"a1lx", b"\0" + struct.pack(">3H", *sizes))


def lsel(layer: int) -> bytes:
    return heif.box(b"lsel", struct.pack(">H", layer))


LAYERED = {
    "a1lx": [a1lx(0, 0, 0)],
    "a1lx-with-sizes": ["half"],
    "a1lx-lsel-all": [a1lx(0, 0, 0), lsel(0xFFFF)],
    "a1lx-lsel-0": [a1lx(0, 0, 0), lsel(0)],
}


@pytest.mark.parametrize("properties", LAYERED.values(), ids=LAYERED)
def test_a_layered_avif_shows_its_picture_on_both_engines(properties, engine):
    # No encoder here writes a multi-layer AV1 item (avifenc --progressive is libavif 1.0+,
    # not in Debian 12); the layer properties on a one-layer item are the valid minimum.
    source = avif_source()
    size = len(heif.items_of(source)[0].data)
    properties = [a1lx(size // 2, 0, 0) if prop == "half" else prop for prop in properties]
    data = with_primary(source, *properties)
    info = inspect(data)
    assert (info.format, info.width, info.height) == ("AVIF", *SIZE)
    mean, largest = difference(rendered(data, engine), libheif(source))
    assert mean < 1.0 and largest <= 4


# --- Alpha that libavif can't read ------------------------------------------------------------


def with_alpha(make_alpha) -> bytes:
    """An RGBA AVIF whose alpha item ``make_alpha(part)`` rewrites."""
    image = gradient().convert("RGBA")
    image.putalpha(Image.linear_gradient("L").resize(SIZE))
    source = avif_source(image)
    parts, primary = heif.items_of(source), heif.primary_of(source)
    (alpha,) = [part for part in parts if b"auxl" in part.refs]
    return heif.build([make_alpha(part) if part is alpha else part for part in parts], primary)


def _without_ispe(part: heif.Part) -> heif.Part:
    return heif.edit([part], part.id, properties=[p for p in part.properties if p[4:8] != b"ispe"])[
        0
    ]


def _hevc_urn(part: heif.Part) -> heif.Part:
    auxc = heif.full_box(b"auxC", b"urn:mpeg:hevc:2015:auxid:1\0")
    properties = [auxc if p[4:8] == b"auxC" else p for p in part.properties]
    return heif.edit([part], part.id, properties=properties)[0]


def _half_size(part: heif.Part) -> heif.Part:
    buffer = io.BytesIO()
    Image.linear_gradient("L").resize((48, 32)).convert("RGB").save(buffer, "AVIF", quality=95)
    (small,) = heif.items_of(buffer.getvalue())
    auxc = [p for p in part.properties if p[4:8] == b"auxC"]
    properties = [p for p in small.properties if p[4:8] != b"colr"] + auxc
    return heif.edit([part], part.id, data=small.data, properties=properties)[0]


ALPHAS = {
    # libavif reads it (since 0.9), libheif too: both engines draw it.
    "hevc-urn": (_hevc_urn, None),
    # Older libavif wrote no ispe for alpha: libavif now refuses it, libheif takes the codec's size.
    "no-ispe": (_without_ispe, "has a transparency (alpha) plane that does not declare its size"),
    # libheif scales the plane to the picture; libavif refuses it.
    "half-size": (
        _half_size,
        "has a transparency (alpha) plane of 48 x 32 pixels for a picture of 96 x 64",
    ),
}


@pytest.mark.parametrize(("rewrite", "pillow_problem"), ALPHAS.values(), ids=ALPHAS)
def test_alpha_that_libheif_reads_is_shown_with_its_transparency(rewrite, pillow_problem):
    data = with_alpha(rewrite)
    info = inspect(data)
    assert (info.format, info.width, info.height, info.mode) == ("AVIF", *SIZE, "RGBA")
    reference = pyvips.Image.heifload_buffer(data)
    expected = Image.frombytes("L", SIZE, reference[3].write_to_memory())
    (output,) = render(data, [parse_spec("x", "max-4096x4096")], formats=FORMATS, engine="vips")
    with Image.open(io.BytesIO(output.data)) as shown:
        assert (shown.format, shown.mode) == ("PNG", "RGBA")
        assert difference(shown.getchannel("A"), expected)[1] <= 2
    if pillow_problem is None:
        (output,) = render(
            data, [parse_spec("x", "max-4096x4096")], formats=FORMATS, engine="pillow"
        )
        with Image.open(io.BytesIO(output.data)) as shown:
            assert difference(shown.getchannel("A"), expected)[1] <= 2
        return
    # The Pillow engine has only libavif for AVIF: it says what is wrong instead of "corrupted".
    with pytest.raises(InvalidImage) as caught:
        render(data, [parse_spec("x", "max-64x64")], formats=FORMATS, engine="pillow")
    assert str(caught.value) == (
        f"Upload a valid image: this AVIF file {pillow_problem}, which the AVIF decoder of this "
        "server (libavif) can't read; save it again, or as PNG or JPEG."
    )
