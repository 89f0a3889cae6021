"""Property: for any bytes, the rendering layer accepts with well-formed outputs or raises
InvalidImage; nothing else, on every engine."""

from __future__ import annotations

import functools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
        *([heif.avif((20, 12), exif=heif.camera_exif(), xmp=heif.XMP)] if heif.AVIF_OK else []),
    ]


@st.composite
def mutated(draw) -> bytes:
    data = bytearray(draw(st.sampled_from(seeds())))
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
