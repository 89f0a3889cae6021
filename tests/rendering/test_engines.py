"""Choosing an engine, the two engines agreeing, and ``render``'s promises to its caller."""

from __future__ import annotations

import io
import threading

import pytest
from PIL import Image

from images_app.rendering import available_engines, parse_spec, render
from images_app.rendering.engines import decoder_for, get_engine
from images_app.rendering.engines.pillow import PillowEngine
from images_app.rendering.engines.vips import VipsEngine
from images_app.rendering.runtime import set_vips_threads

from .factories import DISPLAY_P3, cmyk_profile, encode, oriented, photo, psnr, rgb_profile

SPECS = [parse_spec("thumb", "max-40x40"), parse_spec("large", "max-240x240")]


def test_libvips_is_preferred_wherever_it_imports():
    assert available_engines() == ["vips", "pillow"]


def test_an_unknown_engine_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="pillow"):
        render(b"", SPECS, formats=["JPEG"], engine="imagemagick")


def _transparent_photo() -> bytes:
    image = photo(400, 300).convert("RGBA")
    mask = Image.new("L", image.size, 0)
    mask.paste(255, (60, 40, 340, 260))
    image.putalpha(mask)
    return encode(image, "PNG")


def _on_grey(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data)).convert("RGBA")
    return Image.alpha_composite(Image.new("RGBA", image.size, (128, 128, 128, 255)), image)


@pytest.mark.parametrize(
    "data",
    [
        oriented(photo(400, 300), 6),
        encode(photo(400, 300), "PNG", icc_profile=rgb_profile(DISPLAY_P3)),
        encode(photo(400, 300).convert("CMYK"), "JPEG", icc_profile=cmyk_profile()),
        _transparent_photo(),
    ],
    ids=["rotated-jpeg", "p3-png", "cmyk-profile", "transparent-png"],
)
def test_both_engines_draw_the_same_pictures(data):
    vips, pillow = (
        render(data, SPECS, formats=["JPEG", "PNG"], engine=name) for name in ("vips", "pillow")
    )
    for a, b in zip(vips, pillow, strict=True):
        assert (a.format, a.width, a.height) == (b.format, b.width, b.height)
        assert psnr(_on_grey(a.data), _on_grey(b.data)) >= 35, a.name


def test_identical_renditions_are_encoded_once_and_each_spec_gets_its_output(engine):
    # A 30x20 upload fits the two larger boxes as it is: one encode serves both.
    specs = [
        parse_spec(name, f"max-{box}x{box}") for name, box in [("a", 40), ("b", 50), ("c", 10)]
    ]
    calls = []
    outputs = render(
        encode(photo(30, 20), "JPEG"),
        specs,
        formats=["JPEG"],
        engine=engine,
        on_output=calls.append,
    )
    assert [output.name for output in outputs] == ["a", "b", "c"]
    assert outputs[0].data == outputs[1].data != outputs[2].data
    assert sorted(output.name for output in calls) == ["a", "b", "c"]


def test_an_on_output_failure_reaches_the_caller(engine):
    def broken_storage(output):
        raise OSError("storage is down")

    with pytest.raises(OSError, match="storage is down"):
        render(
            encode(photo(64, 48), "JPEG"),
            SPECS,
            formats=["JPEG"],
            engine=engine,
            on_output=broken_storage,
        )


class QuietPillow(PillowEngine):
    """An engine of the project's own, named by dotted path: Pillow's, with a marker."""

    decodes = frozenset({"JPEG", "PNG"})

    def encode(self, image, fmt, quality):
        return super().encode(image, fmt, quality) + b"quiet"


def test_an_engine_named_by_dotted_path_renders_and_is_resolved_once():
    path = f"{__name__}.QuietPillow"
    outputs = render(encode(photo(64, 48), "JPEG"), SPECS, formats=["JPEG"], engine=path)
    assert all(output.data.endswith(b"quiet") for output in outputs)
    assert get_engine(path) is get_engine(path)


@pytest.mark.parametrize(
    "engine", ["imagemagick", "no.such.module.Engine", "images_app.rendering.spec.fit_inside"]
)
def test_an_engine_that_does_not_resolve_is_refused_naming_it(engine):
    with pytest.raises(ValueError, match=engine.rpartition(".")[2]):
        render(b"", SPECS, formats=["JPEG"], engine=engine)


@pytest.mark.parametrize(
    ("engine", "fmt", "decoder"),
    [
        ("vips", "JPEG", VipsEngine),
        ("vips", "AVIF", VipsEngine),
        ("vips", "HEIF", PillowEngine),  # pyvips-binary's libheif has no HEVC decoder
        ("pillow", "HEIF", PillowEngine),
        (f"{__name__}.QuietPillow", "PNG", QuietPillow),
        (f"{__name__}.QuietPillow", "GIF", PillowEngine),
    ],
)
def test_which_engine_decodes_which_format_is_one_rule(engine, fmt, decoder):
    assert type(decoder_for(get_engine(engine), fmt)) is decoder


def test_a_changed_engine_setting_is_resolved_again(settings):
    first = get_engine("auto")
    settings.IMAGES_APP = {"ENGINE": "pillow"}  # setting_changed clears the resolved engines
    assert get_engine("auto") is not first


def test_one_thread_renders_the_same_files_every_encode_on_the_calling_thread(engine):
    data = encode(photo(640, 480), "JPEG")
    threads_seen = []

    def on_output(output):
        threads_seen.append(threading.current_thread())

    pooled = render(data, SPECS, formats=["JPEG"], engine=engine, threads=2)
    single = render(data, SPECS, formats=["JPEG"], engine=engine, threads=1, on_output=on_output)

    assert [output.data for output in single] == [output.data for output in pooled]
    assert threads_seen == [threading.current_thread()] * len(SPECS)  # no encode pool


def test_with_one_thread_a_failed_output_stops_the_render_at_once(engine):
    written = []

    def storage_down_after_one(output):
        written.append(output.name)
        raise OSError("storage is down")

    with pytest.raises(OSError, match="storage is down"):
        render(
            encode(photo(640, 480), "JPEG"),
            SPECS,
            formats=["JPEG"],
            engine=engine,
            threads=1,
            on_output=storage_down_after_one,
        )
    assert written == ["large"]  # the largest first; the thumb was never encoded


def test_libvips_thread_pool_is_set_for_the_process():
    import pyvips

    before = pyvips.concurrency_get()
    try:
        assert set_vips_threads(1)
        assert pyvips.concurrency_get() == 1
    finally:
        pyvips.concurrency_set(before)
