"""inspect_image: allow-list, limits from the header, cheap frame counts, one exception type."""

from __future__ import annotations

import io
import struct
import warnings
import zlib
from concurrent.futures import ThreadPoolExecutor

import pytest
from PIL import GifImagePlugin, Image, ImageFile
from PIL.PngImagePlugin import PngInfo

from images_app.rendering import InvalidImage, inspect_image, parse_spec, probe, render

from .corpus import (
    FORMATS,
    LIMITS,
    encode,
    gif,
    inspect,
    png,
    png_chunk,
    refusal,
    riff,
    riff_chunk,
    vp8l,
    with_sof_size,
    work,
)

pytestmark = [
    pytest.mark.filterwarnings("error::PIL.Image.DecompressionBombWarning"),
    pytest.mark.filterwarnings("ignore:Corrupt EXIF data:UserWarning"),  # odd files on purpose
]
TINY_IDAT = zlib.compress(b"\0\0")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "The submitted file is empty."),
        (
            encode("BMP"),
            "this file is not a JPEG, PNG, GIF, WebP, AVIF or HEIC image, or it is corrupted.",
        ),
        (png(12000, 12000, TINY_IDAT), "Image is 144 megapixels; the limit is 60."),
        (gif(400, 400, 500), "Image is 80 megapixels across its 500 frames; the limit is 60."),
        (gif(1, 1, 1001), "Image has too many frames; the limit is 1000."),
        (encode("PNG")[:-6], "this PNG file is truncated."),
        (encode("WEBP")[:-6], "this WebP file is truncated."),
        (encode("JPEG")[:300], "this JPEG file is truncated or malformed."),
    ],
    ids=["empty", "bmp", "pixels", "frames_times_pixels", "frames", "png", "webp", "jpeg"],
)
def test_refusals_say_what_is_wrong(data, message):
    assert refusal(data).endswith(message)


def test_only_the_allowed_formats_are_opened():
    assert inspect(encode("PNG"), max_pixels=1000).format == "PNG"
    with pytest.raises(InvalidImage, match="not a JPEG or GIF image"):
        inspect_image(encode("PNG"), formats=("JPEG", "GIF"), **LIMITS)


@pytest.mark.parametrize(
    ("fmt", "params", "frames"),
    [
        ("GIF", {}, 1),
        ("GIF", {"save_all": True, "duration": 50}, 3),
        ("PNG", {"save_all": True, "duration": 50}, 3),
        ("WEBP", {"save_all": True, "duration": 50}, 3),
        ("JPEG", {}, 1),
    ],
)
def test_frames_are_counted(fmt, params, frames):
    first, *rest = [Image.effect_noise((8, 8), 60 + i).convert("RGB") for i in range(frames)]
    buffer = io.BytesIO()
    first.save(buffer, fmt, append_images=rest, **params)
    assert inspect(buffer.getvalue()).frames == frames


def test_gif_frames_are_counted_without_pillow_seeking(monkeypatch):
    # n_frames seeks through every frame in Python: 1.5 s for a million frames.
    def forbidden(self):
        raise AssertionError("n_frames walks the whole GIF")

    monkeypatch.setattr(GifImagePlugin.GifImageFile, "n_frames", property(forbidden))
    assert inspect(gif(1, 1, 3)).frames == 3
    bomb = gif(1, 1, 1_000_000)  # 15 MB of frames
    lines, outcome = work(bomb)
    assert outcome.endswith("too many frames; the limit is 1000.")
    assert lines < 100 * 1001  # counting stops at frame 1001; seeking all 1,000,000: ~30M lines


@pytest.mark.parametrize(
    "data",
    [
        encode("JPEG")[:2] + b"\xff\xe5\0\x02" * 200_000 + encode("JPEG")[2:],
        png(1, 1, TINY_IDAT, extra=png_chunk(b"prVt", b"") * 200_000),
        gif(1, 1, 1, before=b"!\xfe" + b"\x01A" * 1_000_000 + b"\0"),
        riff(*[riff_chunk(b"JUNK", b"")] * 200_000),
    ],
    ids=["jpeg_segments", "png_chunks", "gif_sub_blocks", "riff_chunks"],
)
def test_files_of_tiny_blocks_are_refused_before_pillow_parses_them(data):
    lines, outcome = work(data)
    assert "unreasonable number of tiny blocks" in outcome
    assert lines < len(data)  # under a line of Python per byte: refused before Pillow parses
    # each block (Pillow alone, at 20 MiB: seconds and hundreds of MB)


def test_orientation_swaps_the_displayed_size():
    exif = Image.Exif()
    exif[0x0112] = 6
    info = inspect(encode("JPEG", (40, 20), exif=exif.tobytes()))
    assert (info.width, info.height) == (20, 40)


def test_orientation_is_the_exif_tag_only_as_browsers_read_it():
    xmp = b'<x:xmpmeta><rdf:Description tiff:Orientation="6"/></x:xmpmeta>'
    info = inspect(encode("PNG", (40, 20), pnginfo=_xmp(xmp)))
    assert (info.width, info.height) == (40, 20)


def _xmp(xmp: bytes):
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_itxt("XML:com.adobe.xmp", xmp.decode())
    return info


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "WEBP"])
def test_inspecting_never_decodes_pixels(fmt, monkeypatch):
    data = encode(fmt, (40, 20), mode="P" if fmt == "GIF" else "RGB")
    loads = []  # recorded, not raised: a raise could be swallowed as "broken EXIF"
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: loads.append(self))
    monkeypatch.setattr(Image.Image, "load", lambda self: loads.append(self))
    assert inspect(data).format == fmt
    assert loads == []


def test_a_broken_exif_block_does_not_refuse_the_image():
    assert inspect(encode("PNG", exif=b"Exif\0\0" + bytes(64))).format == "PNG"


def test_mpo_is_a_jpeg_of_one_frame():
    images = [Image.new("RGB", (8, 8), colour) for colour in ("red", "blue")]
    buffer = io.BytesIO()
    images[0].save(buffer, "MPO", save_all=True, append_images=images[1:])
    info = inspect(buffer.getvalue())
    assert (info.format, info.frames, info.content_type) == ("JPEG", 1, "image/jpeg")


def test_gif_frame_extents_grow_the_canvas_as_pillow_does():
    assert refusal(gif(1, 1, 1, frame=(0, 0, 65535, 65535))).startswith("Image is 4295 megapixels")


def test_the_limit_is_never_above_pillows_own():
    # Above Image.MAX_IMAGE_PIXELS Pillow warns; raise that setting to allow more.
    assert refusal(png(10000, 10000, TINY_IDAT), max_pixels=10**9).endswith("the limit is 89.")


def test_pillows_bomb_warning_never_fires_for_walked_formats():
    with warnings.catch_warnings(record=True) as caught:  # single-threaded test: fine here
        warnings.simplefilter("always")
        for size in (10_000, 20_000, 65_535):
            refusal(png(size, size, TINY_IDAT))
    assert not [w for w in caught if issubclass(w.category, Image.DecompressionBombWarning)]


def test_pillows_bomb_check_is_a_refusal_where_we_do_not_walk(monkeypatch):
    monkeypatch.setattr(probe, "read_layout", lambda *args: None)
    for size in (10_000, 20_000):  # warning (made an error), then Pillow's own error
        assert (
            refusal(png(size, size, TINY_IDAT)) == "Image is too large; the limit is 60 megapixels."
        )


@pytest.mark.parametrize(
    "error",
    [
        ValueError("bad value"),
        SyntaxError("not a PNG"),
        struct.error("unpack requires a buffer"),
        OSError("truncated"),
        EOFError(),
        ZeroDivisionError(),
        MemoryError(),
        IndexError(),
        TypeError(),
        KeyError("mode"),
        RecursionError(),
        Image.UnidentifiedImageError("cannot identify"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_every_pillow_exception_becomes_invalid_image(monkeypatch, error):
    def broken(*args, **kwargs):
        raise error

    monkeypatch.setattr(Image, "open", broken)
    message = refusal(encode("PNG"))
    assert message.startswith("Upload a valid image: this file is not a JPEG, PNG, GIF, WebP")


def test_concurrent_inspections_each_get_their_own_answer():
    # The bomb defences hold no per-call global state, so threads can't leak into each other.
    files = [
        encode("PNG"),
        png(20_000, 20_000, TINY_IDAT),
        gif(1, 1, 2000),
        encode("GIF", mode="P"),
    ]
    expected = [_answer(data) for data in files]
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(_answer, files * 50))
    assert answers == expected * 50


def _answer(data: bytes) -> str:
    try:
        return inspect(data).format
    except InvalidImage as exc:
        return str(exc)


def test_truncated_images_are_never_loaded():
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_png_truncated_at_a_chunk_boundary_is_left_to_the_decoder():
    assert inspect(encode("PNG")[:-12]).format == "PNG"  # only IEND missing: every pixel is there


# --- Memory: a budget per decode, and pixels per byte ----------------------------------------


def test_a_tiny_file_declaring_megapixels_is_a_bomb():
    bomb = vp8l(7745, 7745)  # 60 megapixels; Pillow's decode of it took +457 MiB
    assert len(bomb) < 64
    message = refusal(bomb)
    assert "declares 60 megapixels in only" in message
    assert "so it is refused as a decompression bomb" in message


def test_flat_colour_from_a_real_encoder_is_not_a_bomb():
    flat = Image.new("RGB", (4000, 3000), (200, 200, 200))
    for fmt, params in (("WEBP", {"lossless": True}), ("AVIF", {"quality": 60}), ("PNG", {})):
        buffer = io.BytesIO()
        flat.save(buffer, fmt, **params)
        assert inspect(buffer.getvalue()).width == 4000, fmt


def test_the_memory_budget_counts_bytes_per_pixel():
    padding = png_chunk(b"prVt", bytes(4000))  # enough bytes that the ratio is not the reason
    deep = png(6000, 6000, TINY_IDAT, depth=16, colour=6, extra=padding)  # 36 MP x 8 bytes
    assert refusal(deep) == (
        "Image needs 275 MiB of memory to decode (36 megapixels at 8 bytes each); "
        "the limit is 256 MiB."
    )
    assert inspect(png(6000, 6000, TINY_IDAT, colour=6, extra=padding)).width == 6000
    assert "the limit is 100 MiB" in refusal(
        png(6000, 6000, TINY_IDAT, colour=6, extra=padding), max_decode_bytes=100 * 2**20
    )


def test_the_ratio_is_a_setting():
    buffer = io.BytesIO()  # 18 MB decoded: above the floor where ratios matter
    Image.new("RGB", (3000, 2000), (200, 200, 200)).save(buffer, "PNG")  # about 300 per byte
    assert inspect(buffer.getvalue()).width == 3000
    assert "decompression bomb" in refusal(buffer.getvalue(), max_pixels_per_byte=100)


def test_a_jpeg_whose_scan_is_far_too_short_for_its_size_is_refused():
    jpeg = with_sof_size(encode("JPEG", (16, 16)), 7745, 7745)  # libjpeg paints it grey
    assert len(jpeg) < 1000
    assert refusal(jpeg).startswith(
        "Upload a valid image: this JPEG file is truncated or damaged: it declares 7745 x 7745"
    )


@pytest.mark.parametrize("progressive", [False, True])
def test_a_flat_jpeg_has_scan_enough(progressive):
    flat = Image.new("L", (4000, 4000), 128)
    buffer = io.BytesIO()
    flat.save(buffer, "JPEG", quality=10, progressive=progressive, optimize=True)
    assert inspect(buffer.getvalue()).width == 4000


def test_a_gif_frame_larger_than_its_screen_is_refused():
    bomb = gif(8, 8, 1, frame=(0, 0, 65288, 255))  # +384 MiB in Pillow, from 177 bytes
    assert "has a frame of 65288 x 255 pixels on a screen of 8 x 8" in refusal(bomb)
    # A frame placed past the edge, but no larger than the screen, is as Pillow shows it.
    assert inspect(gif(100, 100, 2, frame=(50, 50, 100, 100))).width == 150


# --- PNG checksums: damaged image data refused, damaged extras dropped, as libpng does -------


def _with_bad_crc(data: bytes, kind: bytes) -> bytes:
    at = data.index(kind) + 4 + int.from_bytes(data[data.index(kind) - 4 : data.index(kind)])
    return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :]


def test_a_png_whose_image_data_fails_its_checksum_is_refused():
    damaged = _with_bad_crc(encode("PNG", (40, 30)), b"IDAT")
    assert "its 'IDAT' chunk at byte" in refusal(damaged)
    assert "fails its checksum (CRC)" in refusal(damaged)


def test_a_png_whose_text_chunk_fails_its_checksum_is_accepted(engine):
    info = PngInfo()
    info.add_text("Comment", "a damaged comment")
    damaged = _with_bad_crc(encode("PNG", (40, 30), pnginfo=info), b"tEXt")
    with pytest.raises(Image.UnidentifiedImageError):
        Image.open(io.BytesIO(damaged))  # Pillow alone refuses the whole file
    assert (inspect(damaged).width, inspect(damaged).height) == (40, 30)
    outputs = render(damaged, [parse_spec("thumb", "max-20x20")], formats=FORMATS, engine=engine)
    assert (outputs[0].width, outputs[0].height) == (20, 15)


def test_a_damaged_camera_jpeg_is_refused_as_damaged():
    # A stray marker mid-scan: what follows it is out of place, a megabyte of it. It is not
    # "tiny blocks" (what a file of empty segments is), so the message must not say so.
    photo = encode("JPEG", (1200, 900), quality=95)
    scan = photo.index(b"\xff\xda")
    middle = scan + (len(photo) - scan) // 3
    damaged = photo[:middle] + b"\xff\xe1\x00\x10" + photo[middle:]
    message = refusal(damaged)
    assert message.startswith("Upload a valid image: this JPEG file is damaged:")
    assert "tiny blocks" not in message
