"""The correctness matrix: the images devices send, through both engines.

Every case builds its upload in memory, renders it with the engine under test, and checks
what a viewer would see. Every output of every case also keeps the contract all renditions
share: exactly ``fit_inside`` in size, the expected format, no metadata at all, and one
``on_output`` call each.

Decided here, for both engines: renditions are *untagged* sRGB (no ICC profile: browsers take
untagged images as sRGB); animated GIF and WebP render their first frame; a transparent source
asked for as JPEG is flattened onto white.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from PIL import Image, ImageCms

from images_app.rendering import Output, parse_spec, render
from images_app.rendering.errors import InvalidImage
from images_app.rendering.probe import not_an_image

from .factories import (
    ADOBE_GAMMA,
    ADOBE_RGB,
    BLUE,
    DISPLAY_P3,
    GREEN,
    QUADRANTS,
    RED,
    WHITE,
    chart,
    cmyk_profile,
    encode,
    grey_profile,
    oriented,
    photo,
    png16,
    psnr,
    quadrants,
    rgb_profile,
    srgb_from,
)

FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "AVIF", "HEIF")
# "large" is where colours are read: big enough that JPEG's chroma blocks stay inside a
# quadrant, and a real downscale of the 128x96 sources.
SPECS = (parse_spec("small", "max-24x24"), parse_spec("large", "max-64x64"))
LOSSLESS = (parse_spec("small", "max-24x24"), parse_spec("large", "max-64x64|format-png"))
SIZE = (128, 96)
_METADATA = (b"Exif\0\0", b"ICC_PROFILE", b"iCCP", b"eXIf", b"xmpmeta", b"ns.adobe.com/xap")
_METADATA += (b"tEXt", b"zTXt", b"iTXt", b"ICCP", b"EXIF", b"XMP ")


@dataclass(frozen=True)
class Case:
    id: str
    make: Callable[[], bytes]
    check: Callable[[dict[str, Output]], None] = lambda outputs: None
    size: tuple[int, int] = SIZE  # as displayed
    transparent: bool = False  # what "format-auto" must pick: PNG if so, else JPEG
    specs: tuple = SPECS
    marks: tuple = field(default=())
    # The vips engine's decoder where it is not the rule's default (see ``decoder``).
    vips_decoder: str | None = None


def pixel(output: Output, fx: float = 0.5, fy: float = 0.5) -> tuple[int, ...]:
    """The decoded output's pixel at a fraction of its width and height."""
    image = Image.open(io.BytesIO(output.data))
    if image.mode not in ("L", "LA", "RGB", "RGBA"):
        image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
    return image.getpixel((int(fx * image.width), int(fy * image.height)))


def near(actual, expected, tolerance: int) -> bool:
    actual = actual if isinstance(actual, tuple) else (actual,)
    expected = expected if isinstance(expected, tuple) else (expected,)
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True))


def colour(expected, tolerance: int = 3, name: str = "large"):
    """Check: the centre of output ``name`` shows ``expected``."""

    expected = expected if isinstance(expected, tuple) else (expected,)

    def check(outputs):
        actual = pixel(outputs[name])
        actual = actual if isinstance(actual, tuple) else (actual,)
        assert near(actual[: len(expected)], expected, tolerance), (actual, expected)

    return check


def upright(outputs):
    """Check: the four quadrants are where they are in the upright picture."""
    centres = [(0.25, 0.25), (0.75, 0.25), (0.25, 0.75), (0.75, 0.75)]
    for (fx, fy), expected in zip(centres, QUADRANTS, strict=True):
        actual = pixel(outputs["large"], fx, fy)
        assert near(actual[:3], expected, 40), ((fx, fy), actual, expected)


def orientation_cases():
    cases = [
        Case(f"jpeg-orientation-{n}", lambda n=n: oriented(quadrants(*SIZE), n), upright)
        for n in range(1, 9)
    ]
    for fmt, n in [("PNG", 6), ("PNG", 7), ("WEBP", 5), ("WEBP", 8)]:
        make = lambda fmt=fmt, n=n: oriented(quadrants(*SIZE), n, fmt)  # noqa: E731
        cases.append(Case(f"{fmt.lower()}-orientation-{n}", make, upright))
    # Shrink-on-load (JPEG DCT scaling, Pillow's draft) then rotation.
    make = lambda: oriented(quadrants(1024, 768), 6)  # noqa: E731
    # 1/8 (the largest rendition is 64 px): past the planar path's 1/4, so TurboJPEG decodes it.
    cases.append(
        Case(
            "jpeg-orientation-6-shrink-on-load",
            make,
            upright,
            size=(1024, 768),
            vips_decoder="turbojpeg",
        )
    )
    return cases


def flat(mode, value, fmt="PNG", size=SIZE, **params):
    return lambda: encode(Image.new(mode, size, value), fmt, **params)


P3, ADOBE = rgb_profile(DISPLAY_P3), rgb_profile(ADOBE_RGB, ADOBE_GAMMA)
ORANGE, MOSS = (200, 80, 60), (60, 160, 80)


def seen_as(
    case_id, mode, value, expected, tolerance=3, fmt="PNG", vips_decoder=None, **params
) -> Case:
    """A flat ``value`` upload whose (lossless) rendition must show ``expected``."""
    make, check = flat(mode, value, fmt, **params), colour(expected, tolerance)
    return Case(case_id, make, check, specs=LOSSLESS, vips_decoder=vips_decoder)


def colour_cases():
    p3, adobe, cmyk = {"icc_profile": P3}, {"icc_profile": ADOBE}, {"icc_profile": cmyk_profile()}
    cyan, jpeg = (255, 0, 0, 0), {"fmt": "JPEG", "quality": 95, "tolerance": 6}
    libvips = {"vips_decoder": "libvips"}
    return [
        # CMYK: Pillow writes Adobe-style inverted CMYK JPEGs, as Photoshop does.
        # CMYK JPEGs are libvips' to decode, not TurboJPEG's (engines/turbo.py).
        seen_as("cmyk-jpeg-no-profile", "CMYK", cyan, (0, 255, 255), **jpeg, **libvips),
        seen_as("cmyk-jpeg-profile", "CMYK", cyan, (255, 255, 0), **jpeg, **cmyk, **libvips),
        seen_as("cmyk-jpeg-grey-ink", "CMYK", (0, 0, 0, 128), (127, 127, 127), **jpeg, **libvips),
        seen_as("p3-png", "RGB", ORANGE, srgb_from(ORANGE, DISPLAY_P3), **p3),
        seen_as("p3-jpeg", "RGB", ORANGE, srgb_from(ORANGE, DISPLAY_P3), **jpeg, **p3),
        # Pure P3 red is outside sRGB: clipped to sRGB's red (relative colorimetric).
        seen_as("p3-red-png", "RGB", RED, RED, **p3),
        seen_as("adobe-rgb-png", "RGB", MOSS, srgb_from(MOSS, ADOBE_RGB, ADOBE_GAMMA), **adobe),
        # Grey with a linear-light profile: mid-grey 128 is sRGB 188.
        seen_as("grey-profile-png", "L", 128, (188,) * 3, icc_profile=grey_profile(1.0)),
        seen_as("no-profile-is-srgb", "RGB", ORANGE, ORANGE),
        seen_as("broken-profile-is-srgb", "RGB", ORANGE, ORANGE, icc_profile=b"\0" * 300),
        seen_as("cmyk-profile-on-rgb-is-ignored", "RGB", ORANGE, ORANGE, **cmyk),
        Case(
            "p3-rgba-png",
            flat("RGBA", (*ORANGE, 128), **p3),
            colour((*srgb_from(ORANGE, DISPLAY_P3), 128)),
            transparent=True,
        ),
        Case(
            "grey-alpha-profile-png",
            flat("LA", (128, 200), icc_profile=grey_profile(1.0)),
            colour((188, 188, 188, 200)),
            transparent=True,
        ),
    ]


def palette(transparent: bool, fmt: str = "PNG") -> Callable[[], bytes]:
    def make():
        image = quadrants(*SIZE).quantize(4)
        if not transparent:
            return encode(image, fmt)
        white = image.getpixel((SIZE[0] - 1, SIZE[1] - 1))
        return encode(image, fmt, transparency=white)

    return make


def cut_out(outputs):
    """Check: red shows at the top left, and the white quadrant became see-through."""
    assert near(pixel(outputs["large"], 0.25, 0.25), (*RED, 255), 3)
    assert pixel(outputs["large"], 0.75, 0.75)[3] == 0


def no_dark_fringe(outputs):
    """Check: every visible pixel of a red square on transparent black stays red."""
    image = Image.open(io.BytesIO(outputs["large"].data)).convert("RGBA")
    pixels = image.get_flattened_data()
    assert any(0 < alpha < 255 for *_, alpha in pixels), "edges should be semi-transparent"
    for red, green, blue, alpha in pixels:
        if alpha >= 16:
            assert red >= 235 and green <= 20 and blue <= 20, (red, green, blue, alpha)


def red_square() -> bytes:
    image = Image.new("RGBA", (129, 97), (0, 0, 0, 0))  # odd sizes: edges fall between pixels
    image.paste((*RED, 255), (32, 24, 97, 73))
    return encode(image, "PNG")


def half(mode, left, right, size=SIZE) -> Image.Image:
    image = Image.new(mode, size, left)
    image.paste(right, (size[0] // 2, 0, *size))
    return image


def halves(left, right, tolerance=3):
    def check(outputs):
        assert near(pixel(outputs["large"], 0.25), left, tolerance)
        assert near(pixel(outputs["large"], 0.75), right, tolerance)

    return check


def grey_alpha(outputs):
    """Check: grey with alpha stays grey with alpha, the see-through half see-through."""
    assert pixel(outputs["large"], 0.25) == (100, 255)
    assert pixel(outputs["large"], 0.75)[1] == 0


def mode_cases():
    return [
        Case("L-png", flat("L", 100), colour(100, 4)),
        Case("L-jpeg", flat("L", 100, "JPEG"), colour(100, 4)),
        Case(
            "LA-png",
            lambda: encode(half("LA", (100, 255), (100, 0)), "PNG"),
            grey_alpha,
            transparent=True,
        ),
        Case("P-png", palette(False), upright),
        Case("P-transparent-png", palette(True), cut_out, transparent=True),
        Case("P-transparent-gif", palette(True, "GIF"), cut_out, transparent=True),
        Case("RGBA-all-opaque-is-opaque", flat("RGBA", (*ORANGE, 255)), colour(ORANGE, 6)),
        Case(
            "RGBA-premultiplied-no-dark-fringe",
            red_square,
            no_dark_fringe,
            size=(129, 97),
            transparent=True,
        ),
        Case("I;16-png", flat("I;16", 40000), colour(40000 >> 8, 4)),  # 16-bit keeps its high byte
        Case("RGB-16-bit-png", lambda: png16(*SIZE, (40000, 1000, 65535)), colour((156, 3, 255))),
        Case("1-bit-png", lambda: encode(half("1", 1, 0), "PNG"), halves(255, 0, 4)),
    ]


def animated(fmt: str) -> Callable[[], bytes]:
    def make():
        frames = [Image.new("RGB", SIZE, value) for value in (RED, GREEN, BLUE)]
        return encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100)

    return make


def every_format(box: int) -> tuple:
    return tuple(
        parse_spec(name, f"max-{box}x{box}|format-{name}")
        for name in ("auto", "webp", "png", "jpeg")
    )


def format_cases():
    explicit = every_format(64)

    def opaque(outputs):
        formats = {name: output.format for name, output in outputs.items()}
        assert formats == {"auto": "JPEG", "webp": "WEBP", "png": "PNG", "jpeg": "JPEG"}
        assert near(pixel(outputs["webp"]), ORANGE, 6)

    def transparent(outputs):
        formats = {name: output.format for name, output in outputs.items()}
        assert formats == {"auto": "PNG", "webp": "WEBP", "png": "PNG", "jpeg": "JPEG"}
        assert pixel(outputs["webp"], 0.25)[3] == 0
        assert near(pixel(outputs["jpeg"], 0.25), WHITE, 3)  # flattened onto white
        assert near(pixel(outputs["jpeg"], 0.75), ORANGE, 6)

    see_through = lambda: encode(half("RGBA", (0, 0, 0, 0), (*ORANGE, 255)), "PNG")  # noqa: E731
    return [
        Case("formats-opaque", flat("RGB", ORANGE, "JPEG", quality=95), opaque, specs=explicit),
        Case("formats-transparent", see_through, transparent, transparent=True, specs=explicit),
    ]


def metadata_heavy() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 1
    exif[0x010F] = "Camera maker"
    exif.get_ifd(0x8825)[2] = (52.0, 30.0, 0.0)  # GPS latitude
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF/></x:xmpmeta>'
    image = quadrants(*SIZE)
    return encode(image, "JPEG", exif=exif.tobytes(), icc_profile=srgb, xmp=xmp, comment="hi")


def other_cases():
    return [
        Case("animated-gif-first-frame", animated("GIF"), colour(RED, 6)),
        Case("animated-webp-first-frame", animated("WEBP"), colour(RED, 12)),
        Case(
            "progressive-jpeg", lambda: encode(quadrants(*SIZE), "JPEG", progressive=True), upright
        ),
        Case("metadata-stripped", metadata_heavy, upright),
        Case("metadata-stripped-unresized", metadata_heavy, specs=every_format(200)),
        Case("1x1-jpeg", flat("RGB", RED, "JPEG", size=(1, 1)), size=(1, 1)),
        Case("1x1-png-rgba", flat("RGBA", (*RED, 128), size=(1, 1)), size=(1, 1), transparent=True),
        Case("10000x10-png", flat("RGB", ORANGE, size=(10000, 10)), size=(10000, 10)),
        Case("10x10000-png", flat("RGB", ORANGE, size=(10, 10000)), size=(10, 10000)),
        Case("10000x10-jpeg", flat("RGB", ORANGE, "JPEG", size=(10000, 10)), size=(10000, 10)),
        Case(
            "avif-orientation-6",
            lambda: oriented(quadrants(*SIZE), 6, "AVIF"),
            upright,
        ),
        Case(
            "heic-orientation-6",
            lambda: oriented(quadrants(*SIZE), 6, "HEIF"),
            upright,
        ),
    ]


CASES = orientation_cases() + colour_cases() + mode_cases() + format_cases() + other_cases()


@pytest.mark.parametrize(
    "case", [pytest.param(case, id=case.id, marks=case.marks) for case in CASES]
)
def test_matrix(engine, case):
    calls = []
    outputs = render(
        case.make(), case.specs, formats=FORMATS, engine=engine, on_output=calls.append
    )
    assert [output.name for output in outputs] == [spec.name for spec in case.specs]
    assert sorted(map(id, calls)) == sorted(map(id, outputs)), "on_output: once per output"
    for spec, output in zip(case.specs, outputs, strict=True):
        assert_contract(spec, output, case)
        assert output.decoded_by.split()[0] == decoder(engine, case), output.decoded_by
    case.check({output.name: output for output in outputs})


def decoder(engine: str, case: Case) -> str:
    """Which decoder must have read the case's upload: the Pillow engine decodes everything
    itself; the vips engine hands 4:2:0 colour JPEGs to the planar path (Pillow's decoder),
    other JPEGs to TurboJPEG and HEIC to the Pillow engine (engines.decoder_for), and decodes
    the rest with libvips, or what the case says."""
    if engine == "pillow":
        return "pillow"
    image = Image.open(io.BytesIO(case.make()))
    if case.vips_decoder:
        return case.vips_decoder
    if image.format == "JPEG" and _four_two_zero(image) and min(image.size) >= 2:
        return "pillow"
    return {"JPEG": "turbojpeg", "HEIF": "pillow"}.get(image.format, "libvips")


def _four_two_zero(image: Image.Image) -> bool:
    """A YCbCr-coded JPEG whose chroma is half the luma's size both ways."""
    layers = image.layer if hasattr(image, "layer") else []
    sampling = [(h, v) for _, h, v, _ in layers]
    return image.mode == "RGB" and len(sampling) == 3 and sampling[0] == (2, 2)


def assert_contract(spec, output: Output, case: Case) -> None:
    """Exact size, expected format, decodable, and no metadata left."""
    assert (output.width, output.height) == spec.target_size(*case.size)
    auto = "PNG" if case.transparent else "JPEG"
    assert output.format == {"auto": auto}.get(spec.format, spec.format.upper())
    image = Image.open(io.BytesIO(output.data))
    assert (image.format, image.size) == (output.format, (output.width, output.height))
    assert not image.getexif(), spec.name
    assert not {"icc_profile", "exif", "xmp", "XML:com.adobe.xmp", "comment"} & set(image.info)
    for marker in _METADATA + ((b"\xff\xfe",) if output.format == "JPEG" else ()):
        assert marker not in output.data, (spec.name, marker)


@pytest.mark.parametrize(
    ("make", "size", "boxes", "subsampling"),
    [
        (photo, (600, 450), (22, 44, 150, 300, 234), 2),  # the default set's ratios to 12 MP
        (photo, (1200, 900), (40, 150, 400), 2),  # the largest leaves room for shrink-on-load
        (chart, (1200, 900), (45, 90, 307, 614, 480), 2),  # text, one-pixel lines; 12 MP ratios
        (chart, (1200, 900), (45, 90, 307, 614, 480), 0),  # 4:4:4: the Pillow engine's plain path
    ],
    ids=["photo-12mp-ratios", "photo-shrink-on-load", "chart-12mp-ratios", "chart-444"],
)
def test_renditions_are_within_40_db_of_one_lanczos_step_from_the_full_decode(
    engine, make, size, boxes, subsampling
):
    data = encode(make(*size), "JPEG", quality=92, subsampling=subsampling)
    specs = [parse_spec(f"box{box}", f"max-{box}x{box}|format-png") for box in boxes]
    full = Image.open(io.BytesIO(data)).convert("RGB")
    for output in render(data, specs, formats=["JPEG"], engine=engine):
        reference = full.resize((output.width, output.height), Image.Resampling.LANCZOS)
        quality = psnr(Image.open(io.BytesIO(output.data)), reference)
        assert quality >= 40, (output.name, quality, output.decoded_by)
        # which path ran: the planar one for 4:2:0, on both engines
        assert output.decoded_by.endswith("ycbcr") == (subsampling == 2), output.decoded_by


def _progressive(image: Image.Image) -> bytes:
    return encode(image, "JPEG", progressive=True)


@pytest.mark.parametrize(
    ("data", "box", "vips", "pillow"),
    [
        (encode(photo(800, 600), "JPEG"), 400, "pillow 1/1 ycbcr", "pillow 1/1 ycbcr"),
        (encode(photo(800, 600), "JPEG"), 280, "pillow 1/2 ycbcr", "pillow 1/2 ycbcr"),  # > 1.4x
        (encode(photo(800, 600), "JPEG"), 60, "turbojpeg 1/8", "pillow 1/8"),  # no 1/16 decode
        (_progressive(photo(800, 600)), 280, "pillow 1/2 ycbcr", "pillow 1/2 ycbcr"),
        (oriented(photo(800, 600), 6), 200, "pillow 1/2 ycbcr", "pillow 1/2 ycbcr"),
        (encode(photo(800, 600), "JPEG", icc_profile=P3), 280, *["pillow 1/2 ycbcr"] * 2),
        (encode(photo(800, 600), "JPEG", subsampling=0), 280, "turbojpeg 1/2", "pillow 1/2"),
        (encode(photo(800, 600), "JPEG", keep_rgb=True), 280, "turbojpeg 1/2", "pillow 1/2"),
        (encode(photo(800, 600).convert("L"), "JPEG"), 280, "turbojpeg 1/2", "pillow 1/2"),
        (encode(photo(800, 600).convert("CMYK"), "JPEG"), 280, "libvips 1/2", "pillow 1/2"),
        (encode(photo(800, 600), "PNG"), 280, "libvips 1/1", "pillow 1/1"),
    ],
    ids=[
        "full",
        "half",
        "eighth",
        "progressive",
        "orientation-6",
        "p3",
        "444",
        "rgb-coded",
        "grey",
        "cmyk",
        "png",
    ],
)
def test_which_decoder_ran_and_at_what_scale(engine, data, box, vips, pillow):
    """The scale is the largest JPEG shrink that leaves LOAD_GAP (1.4x) for the resize. The
    planar path ("ycbcr": the luma at that scale, the colour at half of it), on both engines,
    takes 4:2:0 YCbCr JPEGs only, down to 1/4; 4:4:4, RGB-coded, grey and CMYK ones are
    decoded whole (by TurboJPEG or libvips on the vips engine)."""
    (output,) = render(data, [parse_spec("r", f"max-{box}x{box}")], formats=FORMATS, engine=engine)
    assert output.decoded_by == {"vips": vips, "pillow": pillow}[engine]


@pytest.mark.parametrize(("subsampling", "decoder"), [(0, "libvips 1/1"), (2, "pillow 1/1 ycbcr")])
def test_a_jpeg_turbojpeg_warns_about_falls_back_to_libvips(subsampling, decoder):
    # Stray bytes before the end marker: TurboJPEG (strict) refuses a 4:4:4 one, libvips
    # tolerates them as Pillow does; a 4:2:0 one takes the planar path, Pillow's decoder. A
    # cut-off file: every decoder refuses, and the upload is InvalidImage.
    data = encode(photo(200, 150), "JPEG", subsampling=subsampling)
    spec = parse_spec("same", "max-200x200")
    (output,) = render(data[:-2] + b"\0" * 8 + data[-2:], [spec], formats=FORMATS, engine="vips")
    assert output.decoded_by == decoder
    with pytest.raises(InvalidImage):
        render(data[: len(data) // 2], [spec], formats=FORMATS, engine="vips")


def _truncated(fmt: str) -> bytes:
    data = encode(photo(64, 48), fmt)
    return data[: len(data) // 2]


@pytest.mark.parametrize(
    ("data", "formats"),
    [
        (b"", ("JPEG", "PNG")),
        (b"not an image at all", ("JPEG", "PNG")),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", ("JPEG", "PNG")),
        (_truncated("JPEG"), ("JPEG", "PNG")),
        (_truncated("PNG"), ("JPEG", "PNG")),
        (encode(Image.new("RGB", (8, 8)), "PNG"), ("JPEG",)),  # a real image, not allowed
    ],
    ids=["empty", "text", "svg", "truncated-jpeg", "truncated-png", "format-not-allowed"],
)
def test_undecodable_or_refused_input_is_invalid_image(engine, data, formats):
    spec = parse_spec("thumb", "max-16x16")
    with pytest.raises(InvalidImage) as raised:
        render(data, [spec], formats=formats, engine=engine)
    assert str(raised.value) == str(not_an_image(formats))
