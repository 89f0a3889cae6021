"""Property: for any bytes, the rendering layer accepts with well-formed outputs or raises
InvalidImage; nothing else, on every engine."""

from __future__ import annotations

import functools
import io

import pytest
import pyvips
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image as PILImage

from images_app.rendering import InvalidImage, isobmff, parse_spec, render
from images_app.rendering.containers import Budget

from . import heif
from .corpus import encode

pytestmark = pytest.mark.filterwarnings("ignore")  # Pillow warns on odd files; that's fine

EXAMPLES = settings(
    max_examples=120,  # a few seconds per engine on a shared core
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@functools.cache
def seeds() -> list[bytes]:
    """Small valid files of every format: mutations of these reach deep into the decoders."""
    return [
        encode("JPEG", (20, 12)),
        encode("JPEG", (20, 12), progressive=True, exif=b"Exif\0\0MM\0*\0\0\0\x08\0\0"),
        encode("PNG", (20, 12), mode="RGBA"),
        encode("PNG", (20, 12), mode="P"),
        encode("GIF", (20, 12), mode="P"),
        encode("WEBP", (20, 12)),
        encode("WEBP", (20, 12), lossless=True),
        *([heif.phone_heic((20, 12))] if heif.HEIC_OK else []),
        *([avif_seed()] if heif.AVIF_OK else []),
    ]


@functools.cache
def avif_seed() -> bytes:
    """A small AVIF with a camera's EXIF (GPS included) and XMP: the seed the regressions damage."""
    return heif.avif((20, 12), exif=heif.camera_exif(), xmp=heif.XMP)


@st.composite
def mutated(draw, sources=seeds) -> bytes:
    """A file of ``sources()`` with one to six bytes or runs set, flipped, cut, inserted or
    deleted."""
    data = bytearray(draw(st.sampled_from(sources())))
    for _ in range(draw(st.integers(1, 6))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        action = draw(st.sampled_from(["set", "flip", "cut", "insert", "delete"]))
        if action == "set":
            data[at] = draw(st.sampled_from([0x00, 0xFF, 0x7F, 0x80, 0x01]))
        elif action == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif action == "cut":
            del data[max(at, 1) :]
        elif action == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif len(data) > 1:
            del data[at : at + draw(st.integers(1, 16))]
    return bytes(data)


@EXAMPLES
@given(data=st.one_of(st.binary(max_size=512), mutated()))
def test_any_bytes_are_accepted_well_formed_or_refused(data, outcome):
    outcome(data)  # raises on anything but InvalidImage, checks outputs when accepted


def test_an_avif_whose_exif_item_points_into_its_meta_box(engine, outcome):
    # Found by the property above: one byte of the iloc box changed, so that the Exif item's
    # extent starts inside the meta box, one byte before the iref box. libheif (the vips
    # engine) renders the file; libavif (Pillow) refuses it, "Invalid Exif payload", the
    # upload as much as its stored copy. Accepted, that copy must still hold no GPS as
    # libheif reads it.
    seed = avif_seed()
    parsed = isobmff.parse(seed, Budget(seed))
    ((start, _end),) = next(i for i in parsed.items.values() if i.type == b"Exif").extents
    iloc, iref = (next(b for b in parsed.meta_children if b.kind == k) for k in (b"iloc", b"iref"))
    at = seed.index(start.to_bytes(4, "big"), iloc.body, iloc.end)
    damaged = seed[:at] + (iref.start - 1).to_bytes(4, "big") + seed[at + 4 :]
    result = outcome(damaged)  # the checks of an accepted upload, or a refusal with a message
    if engine == "vips":
        assert not isinstance(result, InvalidImage), result


def test_a_decoder_message_quoting_the_file_leaves_libvips_working(engine, outcome):
    # Found by the property above: one byte of an AVIF's irot property type changed to 0x80.
    # libheif's message quotes the type, "could not parse item property 'i\x80ot'", and pyvips
    # decoded libvips' error buffer as strict UTF-8: every later libvips call in the process
    # raised UnicodeDecodeError, the next upload's render included (rendering.runtime).
    seed = avif_seed()
    damaged = seed.replace(b"irot", b"i\x80ot", 1)
    assert damaged != seed
    outcome(damaged)  # accepted and checked, or refused with a message
    outcome(damaged)
    assert pyvips.Image.black(4, 4).invert().avg() == 255
    info, outputs, _original = outcome(encode("PNG", (20, 12), mode="RGBA"))  # libvips' loader
    assert outputs[0].width == info.width == 20


@pytest.mark.parametrize("width", [2048, 2049, 65300])
def test_a_gif_screen_wider_than_libvips_believes(engine, outcome, width):
    # Found by the property above: one byte of a GIF's screen width changed, 20 x 12 to
    # 65300 x 12, its one frame still 20 x 12. Pillow (and the probe, so the API's width and
    # height) show the screen; libvips' loader shows the frame wherever a screen side is over
    # 2048 pixels. Either engine must render what the probe reports.
    buffer = io.BytesIO()
    PILImage.new("P", (20, 12), 3).save(buffer, "GIF")
    gif = buffer.getvalue()
    result = outcome(gif[:6] + width.to_bytes(2, "little") + gif[8:])
    info, outputs, _original = result  # accepted; outcome checked every output's size
    assert (info.width, info.height) == (width, 12)
    assert outputs[0].width == 150


PLANAR_SPECS = [parse_spec(f"r{box}", f"max-{box}x{box}") for box in (240, 161, 100, 40)]


@functools.cache
def planar_seeds() -> list[bytes]:
    """4:2:0 JPEGs the planar path takes: its renditions made from the luma decode (240, 161:
    an odd side, full-size colour) and from the colour decode alone (100, 40)."""
    return [
        encode("JPEG", (400, 300), quality=90),
        encode("JPEG", (400, 300), quality=75, progressive=True),
    ]


@EXAMPLES
@given(data=mutated(planar_seeds), threads=st.sampled_from([1, 2]))
def test_a_damaged_jpeg_on_the_planar_path_hands_each_rendition_over_once(data, threads, engine):
    # The planar path encodes its small renditions beside the luma decode and falls back to the
    # plain path where a decode fails: an accepted file reaches storage once per rendition.
    seen: list[str] = []
    try:
        outputs = render(
            data,
            PLANAR_SPECS,
            formats=["JPEG"],
            engine=engine,
            threads=threads,
            on_output=lambda output: seen.append(output.name),
        )
    except InvalidImage:
        return
    assert sorted(seen) == sorted(output.name for output in outputs)
    assert sorted(seen) == sorted(spec.name for spec in PLANAR_SPECS)
