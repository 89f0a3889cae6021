"""Picture sizes from the codecs' own headers: an HEVC sequence parameter set (H.265) and an
AV1 sequence header. The decoders (libde265, dav1d) allocate what these say, whatever the
container declares, so the probe counts pixels from here. Only the few fields before the
size are read, from at most a few hundred bytes: constant work per picture.
"""

from __future__ import annotations

from .errors import Malformed

MAX_SIDE = 1 << 20  # no codec codes a picture side above 65536; this only keeps numbers sane

_EMULATION = b"\x00\x00\x03"


class Bits:
    """MSB-first bits of ``data``; reading past the end raises Malformed."""

    def __init__(self, data: bytes) -> None:
        self.value, self.left = int.from_bytes(data), 8 * len(data)

    def read(self, count: int) -> int:
        if count > self.left:
            raise Malformed("a codec header is cut short")
        self.left -= count
        return (self.value >> self.left) & ((1 << count) - 1)

    def golomb(self) -> int:
        """ue(v) (H.265) and uvlc() (AV1): leading zeros, a one, as many value bits."""
        zeros = 0
        while not self.read(1):
            zeros += 1
            if zeros > 31:
                raise Malformed("an exp-Golomb code beyond 32 bits")
        return (1 << zeros) - 1 + self.read(zeros)


def hevc_sps_size(nal: bytes) -> tuple[int, int]:
    """pic_width/height_in_luma_samples of an HEVC sequence parameter set NAL unit (H.265
    7.3.2.2), header included."""
    return _sps_size(nal[2:258].replace(_EMULATION, b"\x00\x00"))


def _sps_size(rbsp: bytes) -> tuple[int, int]:
    bits = Bits(rbsp)
    bits.read(4)  # sps_video_parameter_set_id
    sub_layers = bits.read(3)  # sps_max_sub_layers_minus1
    bits.read(1 + 96)  # temporal id nesting; general profile, tier and level
    present = [(bits.read(1), bits.read(1)) for _ in range(sub_layers)]
    if sub_layers:
        bits.read(2 * (8 - sub_layers))
    for profile, level in present:
        bits.read(88 * profile + 8 * level)
    bits.golomb()  # sps_seq_parameter_set_id
    if bits.golomb() == 3:  # chroma_format_idc 4:4:4
        bits.read(1)  # separate_colour_plane_flag
    return _checked(bits.golomb(), bits.golomb())


def av1_max_frame_size(obus: bytes) -> tuple[int, int] | None:
    """max_frame_width/height of the first sequence header OBU in ``obus`` (AV1 5.5.1); None
    if there is none."""
    header = _sequence_header(obus)
    return None if header is None else _av1_max_frame(Bits(header[:256]))


def _sequence_header(obus: bytes) -> bytes | None:
    pos = 0
    while pos < len(obus):
        header = obus[pos]
        kind, extension, sized = (header >> 3) & 15, (header >> 2) & 1, (header >> 1) & 1
        pos += 1 + extension
        size, pos = _leb128(obus, pos) if sized else (len(obus) - pos, pos)
        if kind == 1:  # OBU_SEQUENCE_HEADER
            return obus[pos : pos + size]
        pos += size
    return None


def _leb128(data: bytes, pos: int) -> tuple[int, int]:
    value = 0
    for index in range(8):
        if pos + index >= len(data):
            raise Malformed("an AV1 OBU size is cut short")
        value |= (data[pos + index] & 0x7F) << (7 * index)
        if not data[pos + index] & 0x80:
            return value, pos + index + 1
    raise Malformed("an AV1 OBU size beyond 8 bytes")


def _av1_max_frame(bits: Bits) -> tuple[int, int]:
    bits.read(3)  # seq_profile
    bits.read(1)  # still_picture
    if bits.read(1):  # reduced_still_picture_header
        bits.read(5)  # seq_level_idx[0]
    else:
        model = _av1_timing(bits)
        delays = bits.read(1)  # initial_display_delay_present_flag
        for _ in range(bits.read(5) + 1):  # operating points
            bits.read(12)  # operating_point_idc
            if bits.read(5) > 7:  # seq_level_idx
                bits.read(1)  # seq_tier
            if model and bits.read(1):  # decoder_model_present_for_this_op
                bits.read(2 * model + 1)  # decoder and encoder buffer delays, low delay mode
            if delays and bits.read(1):
                bits.read(4)  # initial_display_delay_minus_1
    width_bits, height_bits = bits.read(4) + 1, bits.read(4) + 1
    return _checked(bits.read(width_bits) + 1, bits.read(height_bits) + 1)


def _av1_timing(bits: Bits) -> int:
    """Skip timing and decoder model info; the buffer delay length if there is a model."""
    if not bits.read(1):  # timing_info_present_flag
        return 0
    bits.read(64)  # num_units_in_display_tick, time_scale
    if bits.read(1):  # equal_picture_interval
        bits.golomb()  # num_ticks_per_picture_minus_1
    if not bits.read(1):  # decoder_model_info_present_flag
        return 0
    delay = bits.read(5) + 1  # buffer_delay_length_minus_1
    bits.read(32 + 5 + 5)  # decoding tick; removal and presentation time lengths
    return delay


def _checked(width: int, height: int) -> tuple[int, int]:
    if not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE):
        raise Malformed("a coded picture size of 0 or beyond any codec")
    return width, height
