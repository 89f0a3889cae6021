"""Fixtures for the file-level defences: engines, the default renditions, a checked pipeline."""

from __future__ import annotations

import io
import time

import pytest
from PIL import Image

from images_app.rendering import (
    InvalidImage,
    Output,
    SourceInfo,
    available_engines,
    inspect_image,
    render,
    strip_metadata,
)

from .corpus import FORMATS, LIMITS, SPECS

ENGINES = sorted(set(available_engines()) | {"pillow"})
# A runaway guard, not a speed test: real cases take milliseconds of CPU, a bomb minutes. The
# linear-cost guarantees are asserted on counted work (test_work.py), never on time.
SECONDS = 20.0


@pytest.fixture(params=ENGINES)
def engine(request) -> str:
    return request.param


@pytest.fixture
def upload(engine):
    """What the service does with an upload, checked: inspect, render, strip location.

    Returns (info, outputs, original) or raises InvalidImage; any other exception, a
    malformed output or seconds of CPU fails the test.
    """

    def run(data: bytes) -> tuple[SourceInfo, list[Output], bytes]:
        started = time.process_time()
        try:
            info = inspect_image(data, formats=FORMATS, **LIMITS)
            outputs = render(data, SPECS, formats=FORMATS, engine=engine)
            original = strip_metadata(data, info.format)
        finally:
            spent = time.process_time() - started
            assert spent < SECONDS, f"{spent:.1f} s of CPU for a {len(data)}-byte file"
        check_outputs(info, outputs)
        check_original(info, original)
        return info, outputs, original

    return run


def check_outputs(info: SourceInfo, outputs: list[Output]) -> None:
    """One output per spec, each a decodable image of its stated format and size, in its box."""
    assert [output.name for output in outputs] == [spec.name for spec in SPECS]
    for spec, output in zip(SPECS, outputs, strict=True):
        with Image.open(io.BytesIO(output.data)) as image:
            image.load()
            assert (image.format, image.size) == (output.format, (output.width, output.height))
        assert output.format in ("JPEG", "PNG")
        # Same orientation as the probe saw (the stored width and height), fitted, not upscaled.
        assert (output.width, output.height) == spec.target_size(info.width, info.height)


def check_original(info: SourceInfo, original: bytes) -> None:
    """The stored original is still the same image, as the probe sees it, and has no GPS."""
    again = inspect_image(original, formats=FORMATS, max_pixels=10**12, max_frames=10**6)
    assert (again.format, again.width, again.height) == (info.format, info.width, info.height)
    try:
        image = Image.open(io.BytesIO(original))
    except Exception:  # an AVIF only libheif opens: its EXIF as libheif reads it
        # libavif (Pillow's AVIF plugin) refuses some files libheif renders, the upload as
        # much as its stored copy: "Invalid Exif payload" where a damaged iloc points the
        # Exif item into other boxes, "Not implemented" for some damaged av1C.
        if info.format not in ("AVIF", "HEIF"):
            raise
        import pyvips

        loaded = pyvips.Image.heifload_buffer(original)
        image = Image.new("1", (1, 1))
        image.info["exif"] = loaded.get("exif-data") if loaded.get_typeof("exif-data") else b""
    with image:
        try:
            gps = image.getexif().get_ifd(0x8825)
        except Exception:  # EXIF Pillow can't read: no GPS to read in it either
            gps = {}
    assert not gps


@pytest.fixture
def outcome(upload):
    """Like ``upload``, but returns the InvalidImage instead of raising it."""

    def run(data: bytes):
        try:
            return upload(data)
        except InvalidImage as exc:
            refusal = exc
        assert str(refusal), "an empty message is no help to the uploader"
        return refusal

    return run
