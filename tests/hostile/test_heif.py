"""HEIC and AVIF: location stripped in place, sizes and limits from the header, hostile
structures refused before any decoder runs."""

from __future__ import annotations

import io
import struct

import pytest
from PIL import AvifImagePlugin, Image

from images_app.rendering import (
    InvalidImage,
    inspect_image,
    isobmff,
    parse_spec,
    render,
    strip_metadata,
)
from images_app.rendering.containers import Budget
from images_app.rendering.errors import not_an_image

from . import heif
from .corpus import FORMATS, LIMITS, inspect, refusal

pytestmark = pytest.mark.filterwarnings("error::PIL.Image.DecompressionBombWarning")

# pillow-heif and Pillow's AVIF are pinned requirements: these run everywhere, never skip.
assert heif.HEIC_OK, "pillow-heif has no HEIC encoder here"
assert heif.AVIF_OK, "Pillow has no AVIF support here"
HEIC = pytest.param("HEIF", id="heic")
AVIF = pytest.param("AVIF", id="avif")
MAKERS = {"HEIF": heif.heic, "AVIF": heif.avif}
METADATA_MESSAGE = "metadata could not be read safely; export it as JPEG."


def decoded(data: bytes) -> tuple[str, tuple[int, int], bytes]:
    with Image.open(io.BytesIO(data)) as image:
        return image.mode, image.size, image.tobytes()


def metadata_items(data: bytes) -> list[isobmff.Item]:
    parsed = isobmff.parse(data, Budget(data))
    return [item for item in parsed.items.values() if item.type in (b"Exif", b"mime")]


def raw_exif(data: bytes) -> Image.Exif:
    """The EXIF item's own tags, as stored (decoders report the orientation differently)."""
    (item,) = [item for item in metadata_items(data) if item.type == b"Exif"]
    exif = Image.Exif()
    exif.load(isobmff.payload(data, item)[4:])
    return exif


def gps_as_pillow_reads_it(data: bytes) -> dict:
    with Image.open(io.BytesIO(data)) as image:
        return dict(image.getexif().get_ifd(0x8825))


# --- inspect_image ----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", [HEIC, AVIF])
@pytest.mark.parametrize("orientation", range(1, 9))
def test_the_displayed_size_is_what_the_engines_draw(fmt, orientation):
    # Both encoders store the orientation as irot/imir; the viewer applies it.
    info = inspect(MAKERS[fmt]((40, 20), exif=heif.camera_exif(orientation)))
    assert (info.width, info.height) == ((40, 20) if orientation < 5 else (20, 40))
    assert info.frames == 1
    assert (info.extension, info.content_type) == {
        "HEIF": ("heic", "image/heic"),
        "AVIF": ("avif", "image/avif"),
    }[fmt]


@pytest.mark.parametrize("fmt", [HEIC, AVIF])
def test_an_exif_orientation_without_irot_is_ignored_as_the_standard_says(fmt):
    parts, primary = _parts(MAKERS[fmt]((40, 20), exif=heif.camera_exif(1)))
    tagged = Image.Exif()
    tagged[0x0112] = 6
    exif = b"\0\0\0\x06" + tagged.tobytes()
    parts = [part if part.type != b"Exif" else _with(part, data=exif) for part in parts]
    info = inspect(heif.build(parts, primary))
    assert (info.width, info.height) == (40, 20)


@pytest.mark.parametrize("fmt", [HEIC, AVIF])
def test_inspecting_never_decodes_pixels(fmt, monkeypatch):
    import pillow_heif

    data = MAKERS[fmt]((40, 20), exif=heif.camera_exif(), xmp=heif.XMP)
    loads = []  # recorded, not raised: a raise could be swallowed along the way
    monkeypatch.setattr(pillow_heif.heif.BaseImage, "load", lambda self: loads.append(self))
    monkeypatch.setattr(pillow_heif.HeifImageFile, "load", lambda self: loads.append(self))
    monkeypatch.setattr(AvifImagePlugin.AvifImageFile, "load", lambda self: loads.append(self))
    assert inspect(data).format == fmt
    assert loads == []


@pytest.mark.parametrize("fmt", [HEIC, AVIF])
def test_a_pixel_bomb_in_ispe_is_refused_before_any_decoder_opens_it(fmt, monkeypatch):
    parts, primary = _parts(MAKERS[fmt]())
    first = next(part for part in parts if part.id == primary)
    bomb = heif.build([_with(first, properties=_replace(first, heif.ispe(20000, 20000)))], primary)
    monkeypatch.setattr(Image, "open", _forbidden)
    assert refusal(bomb) == "Image is 400 megapixels; the limit is 60."


@pytest.mark.parametrize("fmt", [HEIC, AVIF])
def test_the_codecs_own_size_counts_where_it_is_larger_than_ispe(fmt, monkeypatch):
    # libde265 and dav1d allocate what the HEVC SPS / AV1 sequence header say, not ispe.
    parts, primary = _parts(MAKERS[fmt]())
    first = next(part for part in parts if part.id == primary)
    config = first.properties[[prop[4:8] for prop in first.properties].index(_CONFIG[fmt])]
    lying = _FIX[fmt](config, 16000, 12000)
    bomb = heif.build([_with(first, properties=_replace(first, lying))], primary)
    monkeypatch.setattr(Image, "open", _forbidden)
    assert refusal(bomb) == "Image is 192 megapixels; the limit is 60."


@pytest.mark.parametrize("fmt", [HEIC, AVIF])
def test_a_picture_coded_smaller_than_it_says_is_refused(fmt):
    parts, primary = _parts(MAKERS[fmt]())
    first = next(part for part in parts if part.id == primary)
    config = first.properties[[prop[4:8] for prop in first.properties].index(_CONFIG[fmt])]
    small = heif.build([_with(first, properties=_replace(first, _FIX[fmt](config, 8, 8)))])
    assert refusal(small).endswith("file is truncated or malformed.")


def test_a_grid_counts_every_tile_it_decodes():
    data = heif.phone_heic((64, 64))
    parts, primary = _parts(data)
    grid = next(part for part in parts if part.id == primary)
    tile = grid.refs[b"dimg"][0]
    many = heif.build(heif.edit(parts, primary, refs={b"dimg": [tile] * 4000}), primary)
    assert inspect(data).width == 64
    assert refusal(many, max_pixels=10_000_000).startswith("Image is 16 megapixels")


def test_bursts_are_frames_counted_against_the_limits():
    shots = [heif.picture((40, 20)).rotate(angle) for angle in (0, 180, 0)]
    burst = heif.encode("HEIF", image=shots[0], save_all=True, append_images=shots[1:])
    assert inspect(burst).frames == 3
    assert refusal(burst, max_frames=2) == "Image has too many frames; the limit is 2."
    # 40x20 coded as 64x64 (x265's smallest): what the decoder allocates, three times over.
    message = "Image is 0.012 megapixels across its 3 frames; the limit is 0.01."
    assert refusal(burst, max_pixels=10_000) == message
    with Image.open(io.BytesIO(burst)) as image:
        assert image.n_frames == 3  # as pillow-heif counts them


def test_thumbnails_tiles_and_alpha_planes_are_not_frames():
    assert inspect(heif.phone_heic((96, 64))).frames == 1
    assert inspect(heif.heic(mode="RGBA")).frames == 1


def test_an_animation_shows_its_still_picture_as_gif_and_webp_show_their_first_frame(engine):
    frames = [heif.picture().rotate(angle) for angle in (0, 180)]
    animated = heif.encode("AVIF", image=frames[0], save_all=True, append_images=frames[1:])
    info = inspect(animated)
    assert (info.format, info.width, info.height, info.frames) == ("AVIF", 64, 48, 1)
    (output,) = render(animated, [parse_spec("x", "max-64x64")], formats=FORMATS, engine=engine)
    with Image.open(io.BytesIO(output.data)) as shown:
        assert quadrants(shown) == ["red", "green", "blue", "white"]


COLOURS = {"red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255), "white": (255,) * 3}


def quadrants(image: Image.Image) -> list[str]:
    """The colour nearest each quadrant's centre: top left, top right, bottom left, right."""
    image, (width, height) = image.convert("RGB"), image.size
    centres = [(x * width // 4, y * height // 4) for y in (1, 3) for x in (1, 3)]
    return [_nearest(image.getpixel(centre)) for centre in centres]


def _nearest(pixel) -> str:
    def distance(name: str) -> int:
        return sum(abs(a - b) for a, b in zip(COLOURS[name], pixel[:3], strict=True))

    return min(COLOURS, key=distance)


def test_a_sequence_with_no_still_picture_is_refused():
    plain = heif.avif()
    top = list(isobmff.boxes(plain, 0, len(plain), Budget(plain), lenient=True))
    ftyp, mdat = (plain[box.start : box.end] for box in top if box.kind in (b"ftyp", b"mdat"))
    sequence = ftyp + heif.box(b"moov", heif.box(b"mvhd", bytes(100))) + mdat
    assert refusal(sequence).startswith(
        "Upload a still image: this AVIF file is an image sequence (an animation) without a "
        "still picture"
    )


def _tiny_boxes() -> bytes:
    parts, primary = _parts(heif.heic())
    return heif.build(parts, primary, meta_extra=heif.box(b"free") * 200_000)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda data: data[: len(data) // 2], "this HEIC file is truncated or malformed."),
        (lambda data: data[:-10], "this HEIC file is truncated or malformed."),
        (lambda data: data[:28] + (2**31).to_bytes(4) + data[32:], "truncated or malformed."),
        (lambda data: _rebuilt(data, primary=99), "truncated or malformed."),
        (lambda data: _rebuilt(data, iloc=_ILOC_LIE), "truncated or malformed."),
        (lambda data: _rebuilt(data, meta_extra=b"\0\0\0\x04free"), "truncated or malformed."),
        (lambda data: _rebuilt(data, brand=b"avif"), "or it is corrupted."),
        (lambda data: _tiny_boxes(), "tiny blocks for its size, which no real image needs."),
    ],
    ids=[
        "truncated-half",
        "truncated-in-mdat",
        "meta-size-lies",
        "no-primary",
        "iloc-count-lies",
        "box-shorter-than-header",
        "brand-lies",
        "tiny-boxes",
    ],
)
def test_broken_or_lying_structures_are_refused(make, message):
    assert refusal(make(heif.heic())).endswith(message)


def test_64_bit_box_sizes_and_junk_after_the_last_box_are_fine():
    parts, primary = _parts(heif.heic())
    large = heif.build(parts, primary, large_mdat=True)
    assert inspect(large).format == "HEIF"
    junk = large + struct.pack(">I4sQ", 1, b"free", 2**63)  # runs past the end: junk
    assert inspect(junk).format == "HEIF"
    assert strip_metadata(junk, "HEIF") == strip_metadata(large, "HEIF")


def test_avif_listed_after_heif_is_still_avif_and_decoded_by_libheif():
    # A "mif1" AVIF: pillow-heif claims it before Pillow's AVIF plugin if HEIF comes first,
    # and can't decode it; the walk knows it is AVIF, and routing sends AVIF to libvips.
    parts, primary = _parts(heif.avif())
    generic = heif.build(parts, primary, brand=b"mif1", compatible=(b"mif1", b"miaf", b"avif"))
    assert inspect(generic).format == "AVIF"
    assert inspect_image(generic, formats=("HEIF", "AVIF"), **LIMITS).format == "AVIF"
    (output,) = render(generic, [parse_spec("x", "max-64x64")], formats=("HEIF", "AVIF"))
    assert (output.width, output.height) == (64, 48)


def test_the_refusal_lists_them_as_uploaders_know_them():
    assert str(not_an_image(FORMATS)) == (
        "Upload a valid image: this file is not a JPEG, PNG, GIF, WebP, AVIF or HEIC image, "
        "or it is corrupted."
    )


# --- Helpers ----------------------------------------------------------------------------------

_CONFIG = {"HEIF": b"hvcC", "AVIF": b"av1C"}
_FIX = {"HEIF": heif.with_hevc_size, "AVIF": heif.av1c_with_size}
_ILOC_LIE = heif.full_box(b"iloc", bytes([0x44, 0x00, 0xFF, 0xFF]) + bytes(14), 1)


def _forbidden(*args, **kwargs):
    raise AssertionError("a decoder opened the file")


def _parts(data: bytes) -> tuple[list[heif.Part], int]:
    return heif.items_of(data), heif.primary_of(data)


def _with(part: heif.Part, **changes) -> heif.Part:
    return heif.edit([part], part.id, **changes)[0]


def _replace(part: heif.Part, new: bytes) -> list[bytes]:
    return [new if prop[4:8] == new[4:8] else prop for prop in part.properties]


def _rebuilt(data: bytes, primary: int | None = None, **options) -> bytes:
    parts, first = _parts(data)
    return heif.build(parts, first if primary is None else primary, **options)


def _with_exif(payload: bytes) -> bytes:
    parts, primary = _parts(heif.heic(exif=heif.camera_exif()))
    parts = [part if part.type != b"Exif" else _with(part, data=payload) for part in parts]
    return heif.build(parts, primary)


@pytest.mark.parametrize("fmt", ["HEIF", "AVIF"])
def test_a_derived_primary_item_is_shown_with_its_transforms(fmt, engine):
    # The primary item derives from a hidden coded picture (iden) and turns it: irot 1 is
    # 90 degrees anticlockwise. libheif shows it turned; so do we.
    source = heif.heic() if fmt == "HEIF" else heif.avif()
    (coded,) = heif.items_of(source)
    coded = heif.edit([coded], coded.id, hidden=True)[0]
    turned = heif.Part(
        coded.id + 1,
        b"iden",
        properties=[heif.ispe(64, 48), heif.box(b"irot", b"\1")],
        refs={b"dimg": [coded.id]},
    )
    brand = b"avif" if fmt == "AVIF" else b"heic"
    data = heif.build([turned, coded], turned.id, brand=brand, compatible=(b"mif1", brand))
    info = inspect(data)
    assert (info.format, info.width, info.height) == (fmt, 48, 64)
    if (fmt, engine) == ("AVIF", "pillow"):  # Pillow's AVIF plugin can't open it; libheif can
        with pytest.raises(InvalidImage, match=r"through a derived item .* \(libavif\) can.t read"):
            render(data, [parse_spec("x", "max-64x64")], formats=FORMATS, engine=engine)
        return
    (output,) = render(data, [parse_spec("x", "max-64x64")], formats=FORMATS, engine=engine)
    with Image.open(io.BytesIO(output.data)) as shown:
        assert shown.size == (48, 64)
        assert quadrants(shown) == ["green", "white", "red", "blue"]
