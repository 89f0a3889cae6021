"""Test images and ICC profiles, all made in memory: nothing downloaded, nothing on disk."""

from __future__ import annotations

import io
import math
import random
import struct
import zlib

from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageFont, ImageStat

RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)
QUADRANTS = (RED, GREEN, BLUE, WHITE)  # top-left, top-right, bottom-left, bottom-right

# The Pillow transpose that *stores* an upright picture under each EXIF orientation: the
# inverse of what a viewer applies (EXIF 2.32, 4.6.4; 5 and 7 are mirrored rotations).
STORE = {
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


def encode(image: Image.Image, fmt: str, **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def quadrants(width: int, height: int, mode: str = "RGB") -> Image.Image:
    """Four flat colours, one per quadrant, so any rotation or mirror shows."""
    image = Image.new("RGB", (width, height))
    half_w, half_h = width // 2, height // 2
    boxes = [(0, 0, half_w, half_h), (half_w, 0, width, half_h)]
    boxes += [(0, half_h, half_w, height), (half_w, half_h, width, height)]
    for box, colour in zip(boxes, QUADRANTS, strict=True):
        image.paste(colour, box)
    return image.convert(mode)


def oriented(upright: Image.Image, orientation: int, fmt: str = "JPEG") -> bytes:
    """``upright`` stored the way a camera would under ``orientation``, tag included."""
    method = STORE[orientation]
    stored = upright if method is None else upright.transpose(method)
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(stored, fmt, exif=exif.tobytes(), quality=95)


def photo(width: int, height: int, seed: int = 7) -> Image.Image:
    """Photo-like content: smooth gradients, soft texture and sharp-edged shapes."""
    rng = random.Random(seed)
    channels = [
        Image.linear_gradient("L").rotate(90),
        Image.linear_gradient("L"),
        Image.radial_gradient("L"),
    ]
    image = Image.merge(
        "RGB", [c.resize((width, height), Image.Resampling.BILINEAR) for c in channels]
    )
    texture = Image.new("L", (max(1, width // 6), max(1, height // 6)))
    texture.putdata([rng.randrange(256) for _ in range(texture.width * texture.height)])
    texture = texture.resize((width, height), Image.Resampling.BICUBIC)
    image = Image.blend(image, Image.merge("RGB", (texture,) * 3), 0.25)
    draw = ImageDraw.Draw(image)
    for _ in range(30):
        x, y = rng.randrange(width), rng.randrange(height)
        box = (x, y, x + rng.randrange(width // 8 + 1), y + rng.randrange(height // 8 + 1))
        colour = tuple(rng.randrange(256) for _ in range(3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=colour)
    return image.filter(ImageFilter.GaussianBlur(0.6))


def chart(width: int, height: int) -> Image.Image:
    """A sharp test chart, black on white: text from 8 px up, one-pixel lines 2 to 6 px apart
    across and down, and a star of one-pixel spokes: where a soft resize or DCT scaling shows."""
    image = Image.new("RGB", (width, height), WHITE)
    draw = ImageDraw.Draw(image)
    y = 4
    for size in (8, 12, 18, 27, 40):
        font = ImageFont.load_default(size=size)
        draw.text((4, y), "Sphinx of black quartz, judge my vow 0123456789", (0, 0, 0), font)
        y += size * 3 // 2
    box = width // 8
    for column, gap in enumerate((2, 3, 4, 6)):
        left, top = 4 + column * (box + 8), height // 2
        for offset in range(0, box, gap):
            draw.line((left + offset, top, left + offset, top + box), (0, 0, 0))
            draw.line((left, top + box + 8 + offset, left + box, top + box + 8 + offset), (0, 0, 0))
    centre, radius = (width - box - 8, height // 2 + box // 2), box
    for spoke in range(48):
        angle = math.tau * spoke / 48
        end = (centre[0] + radius * math.cos(angle), centre[1] + radius * math.sin(angle))
        draw.line((*centre, *end), (0, 0, 0))
    return image


def png16(width: int, height: int, colour: tuple[int, ...]) -> bytes:
    """A flat 16-bit PNG (grey if one sample, RGB if three): Pillow cannot write RGB 16-bit."""
    colour_type = {1: 0, 3: 2}[len(colour)]
    row = b"\0" + struct.pack(f">{len(colour)}H", *colour) * width
    header = struct.pack(">IIBBBBB", width, height, 16, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(row * height))
        + _chunk(b"IEND", b"")
    )


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def psnr(a: Image.Image, b: Image.Image) -> float:
    """Peak signal-to-noise ratio in dB over the RGB channels."""
    rms = ImageStat.Stat(ImageChops.difference(a.convert("RGB"), b.convert("RGB"))).rms
    mse = sum(value * value for value in rms) / 3
    return math.inf if mse == 0 else 10 * math.log10(255**2 / mse)


# ICC profiles, written byte by byte (ICC.1:2001-04, version 2.1).

D50 = (0.9642, 1.0, 0.8249)
# Colorants adapted to D50 (Bradford), as in Apple's Display P3 and Adobe's AdobeRGB1998.icc.
DISPLAY_P3 = ((0.5151, 0.2412, -0.0011), (0.2920, 0.6922, 0.0419), (0.1571, 0.0666, 0.7841))
ADOBE_RGB = ((0.6097, 0.3111, 0.0195), (0.2053, 0.6257, 0.0609), (0.1492, 0.0632, 0.7446))
SRGB = ((0.4361, 0.2225, 0.0139), (0.3851, 0.7169, 0.0971), (0.1431, 0.0606, 0.7141))
ADOBE_GAMMA = 563 / 256


def rgb_profile(colorants, gamma: float | None = None) -> bytes:
    """A matrix/TRC RGB display profile; ``gamma`` None means the sRGB tone curve."""
    trc = _curv(gamma) if gamma else _para_srgb()
    tags = {b"desc": _desc("test RGB"), b"wtpt": _xyz(D50)}
    tags |= {
        sig: _xyz(xyz) for sig, xyz in zip((b"rXYZ", b"gXYZ", b"bXYZ"), colorants, strict=True)
    }
    tags |= {b"rTRC": trc, b"gTRC": trc, b"bTRC": trc}
    return _profile(b"mntr", b"RGB ", b"XYZ ", tags)


def grey_profile(gamma: float) -> bytes:
    """A grey display profile with a plain gamma tone curve."""
    tags = {b"desc": _desc("test grey"), b"wtpt": _xyz(D50), b"kTRC": _curv(gamma)}
    return _profile(b"mntr", b"GRAY", b"XYZ ", tags)


def cmyk_profile() -> bytes:
    """A CMYK printer profile unlike any real press, so that using it is plain to see:
    cyan ink prints blue-less (yellow), magenta prints red-less (cyan), yellow prints
    green-less (magenta), black is black. Plain CMYK maths gives other colours."""
    clut = []
    for c, m, y, k in _corners(4):  # the first input channel varies slowest
        rgb = ((1 - m) * (1 - k), (1 - y) * (1 - k), (1 - c) * (1 - k))
        clut.append(_srgb_to_xyz_u16(rgb))
    body = struct.pack(">BBBB", 4, 3, 2, 0) + b"".join(_s15(v) for v in (1, 0, 0, 0, 1, 0, 0, 0, 1))
    body += struct.pack(">HH", 2, 2) + struct.pack(">HH", 0, 65535) * 4
    body += b"".join(struct.pack(">HHH", *xyz) for xyz in clut)
    body += struct.pack(">HH", 0, 65535) * 3
    tags = {b"desc": _desc("test CMYK"), b"wtpt": _xyz(D50), b"A2B0": b"mft2\0\0\0\0" + body}
    return _profile(b"prtr", b"CMYK", b"XYZ ", tags)


def srgb_from(rgb: tuple[int, int, int], colorants, gamma: float | None = None) -> tuple:
    """What a colour-managed viewer shows for ``rgb`` in that profile: sRGB, clipped."""
    linear = [_decode(v / 255, gamma) for v in rgb]
    xyz = [sum(colorants[j][i] * linear[j] for j in range(3)) for i in range(3)]
    srgb_linear = _solve(SRGB, xyz)
    return tuple(round(255 * _encode_srgb(min(1.0, max(0.0, v)))) for v in srgb_linear)


def _profile(device: bytes, space: bytes, pcs: bytes, tags: dict[bytes, bytes]) -> bytes:
    table_size = 4 + 12 * len(tags)
    offset, entries, data = 128 + table_size, b"", b""
    for sig, body in tags.items():
        body += b"\0" * (-len(body) % 4)
        entries += struct.pack(">4sII", sig, offset + len(data), len(body))
        data += body
    size = 128 + table_size + len(data)
    header = struct.pack(">I4sI4s4s4s", size, b"lcms", 0x02100000, device, space, pcs)
    header += b"\0" * 12 + b"acsp" + b"\0" * 24 + struct.pack(">I", 0)
    header += b"".join(_s15(v) for v in D50) + b"\0" * 48
    return header + struct.pack(">I", len(tags)) + entries + data


def _s15(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def _xyz(xyz) -> bytes:
    return b"XYZ \0\0\0\0" + b"".join(_s15(v) for v in xyz)


def _curv(gamma: float) -> bytes:
    return b"curv\0\0\0\0" + struct.pack(">IH", 1, round(gamma * 256))


def _para_srgb() -> bytes:
    params = (2.4, 1 / 1.055, 0.055 / 1.055, 1 / 12.92, 0.04045)
    return b"para\0\0\0\0" + struct.pack(">HH", 3, 0) + b"".join(_s15(v) for v in params)


def _desc(text: str) -> bytes:
    ascii_text = text.encode() + b"\0"
    return b"desc\0\0\0\0" + struct.pack(">I", len(ascii_text)) + ascii_text + b"\0" * 78


def _corners(inputs: int):
    return [
        tuple((index >> (inputs - 1 - bit)) & 1 for bit in range(inputs))
        for index in range(2**inputs)
    ]


def _srgb_to_xyz_u16(rgb) -> tuple[int, int, int]:
    xyz = [sum(SRGB[j][i] * rgb[j] for j in range(3)) for i in range(3)]
    return tuple(min(65535, round(v * 32768)) for v in xyz)  # u1Fixed15 PCS encoding


def _decode(value: float, gamma: float | None) -> float:
    if gamma:
        return value**gamma
    return value / 12.92 if value <= 0.04045 else ((value + 0.055) / 1.055) ** 2.4


def _encode_srgb(value: float) -> float:
    return value * 12.92 if value <= 0.0031308 else 1.055 * value ** (1 / 2.4) - 0.055


def _solve(columns, target):
    """Solve M x = target where ``columns`` are M's columns (Cramer's rule)."""

    def det(cols):
        (a, b, c), (d, e, f), (g, h, i) = cols
        return a * (e * i - f * h) - d * (b * i - c * h) + g * (b * f - c * e)

    whole = det(columns)
    return [det([target if k == j else columns[k] for k in range(3)]) / whole for j in range(3)]
