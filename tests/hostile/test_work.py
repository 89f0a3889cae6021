"""The probe's cost is linear in the file's size: counted in work, never in wall time.

Work is every line of Python executed while ``inspect_image`` runs (ours, Pillow's plugins,
pillow-heif's), counted by a trace function: it is deterministic, it does not care how busy
the machine is, and a quadratic walk shows at once. Each known costly shape is fed at two
sizes, the second eight times the first; the work may grow about as much as the bytes do,
never with their square, and stays within a small number of lines per byte.

The shapes are the worst cases we know for each walker: one tile referenced by a grid
thousands of times (each reference used to scan the tile's property list), an item with
thousands of property associations, a grid of a thousand distinct tiles, long box chains at
the top level, in the meta box and in ipco, long iref and iloc tables, and files of tiny
JPEG segments, PNG chunks, GIF sub-blocks and frames, and RIFF chunks.
"""

from __future__ import annotations

import struct
import zlib

import pytest

from images_app.rendering import InvalidImage
from images_app.rendering.containers import Budget

from . import heif
from .corpus import WORK_CAP, encode, gif, png, png_chunk, riff, riff_chunk, work

pytestmark = pytest.mark.filterwarnings("ignore")  # odd files on purpose

SCALE = 8  # the large file of each shape has eight times the blocks of the small one
LINES_PER_BYTE = 40  # real files take 0.1 to 5; the worst shapes below about 10
# --- Shapes -----------------------------------------------------------------------------------

PHONE = heif.phone_heic()


def _grid():
    parts, grid_id = heif.items_of(PHONE), heif.primary_of(PHONE)
    tile = next(part for part in parts if part.id == grid_id).refs[b"dimg"][0]
    return parts, grid_id, tile


def one_tile_referenced(n: int) -> bytes:
    parts, grid_id, tile = _grid()
    props = next(part for part in parts if part.id == tile).properties
    padding = [heif.box(b"free", struct.pack(">H", i)) for i in range(200)]  # a long list
    parts = heif.edit(parts, tile, properties=props + padding)
    return heif.build(heif.edit(parts, grid_id, refs={b"dimg": [tile] * n}), grid_id)


def many_associations(n: int, monkeypatch) -> bytes:
    """The tile's ipma entry repeated: n x 200 associations for one item."""
    parts, grid_id, tile = _grid()
    props = next(part for part in parts if part.id == tile).properties
    padding = [heif.box(b"free", struct.pack(">H", i)) for i in range(200)]
    parts = heif.edit(parts, tile, properties=props + padding)
    original = heif._iprp

    def repeated(parts):
        iprp = original(parts)
        ipco_end = 8 + int.from_bytes(iprp[8:12])
        ipma = iprp[ipco_end:]
        count = int.from_bytes(ipma[12:16])
        entries = ipma[16:]
        tile_entry = next(
            entries[at : at + 3 + entries[at + 2]]
            for at in _entry_offsets(entries, count)
            if int.from_bytes(entries[at : at + 2]) == tile
        )
        body = struct.pack(">I", count + n) + entries + tile_entry * n
        return heif.box(b"iprp", iprp[8:ipco_end] + heif.full_box(b"ipma", body))

    monkeypatch.setattr(heif, "_iprp", repeated)
    return heif.build(parts, grid_id)


def _entry_offsets(entries: bytes, count: int):
    at = 0
    for _ in range(count):
        yield at
        at += 3 + entries[at + 2]


def many_tiles(n: int) -> bytes:
    """A grid of n distinct tiles (copies of one), n up to the 1000 items libheif allows."""
    parts, grid_id, tile = _grid()
    model = next(part for part in parts if part.id == tile)
    copies = [heif.Part(1000 + i, model.type, model.data, model.properties) for i in range(n)]
    grid = heif.edit(parts, grid_id, refs={b"dimg": [copy.id for copy in copies]})
    return heif.build([*grid, *copies], grid_id)


def top_level_boxes(n: int) -> bytes:
    parts, grid_id, _ = _grid()
    return heif.build(parts, grid_id, top_extra=heif.box(b"free") * n)


def meta_children(n: int) -> bytes:
    parts, grid_id, _ = _grid()
    return heif.build(parts, grid_id, meta_extra=heif.box(b"free") * n)


def iref_boxes(n: int) -> bytes:
    parts, grid_id, tile = _grid()
    refs = {b"cdsc": [tile]}
    extra = [heif.Part(2000 + i, b"Exif", b"\0\0\0\0", refs=refs) for i in range(min(n, 900))]
    return heif.build([*parts, *extra], grid_id)


def jpeg_segments(n: int) -> bytes:
    jpeg = encode("JPEG")
    return jpeg[:2] + b"\xff\xe5\0\x02" * n + jpeg[2:]


def jpeg_fill_bytes(n: int) -> bytes:
    jpeg = encode("JPEG")
    return jpeg[:2] + (b"\xff" * 7 + b"\xfe\0\x02") * n + jpeg[2:]


def png_chunks(n: int) -> bytes:
    return png(1, 1, zlib.compress(b"\0\0"), extra=png_chunk(b"prVt", b"") * n)


def gif_sub_blocks(n: int) -> bytes:
    return gif(1, 1, 1, before=b"!\xfe" + b"\x01A" * n + b"\0")


def gif_frames(n: int) -> bytes:
    return gif(1, 1, min(n, 990))


def riff_chunks(n: int) -> bytes:
    return riff(*[riff_chunk(b"JUNK", b"")] * n)


SHAPES = {
    "jpeg_segments": jpeg_segments,
    "jpeg_fill_bytes": jpeg_fill_bytes,
    "png_chunks": png_chunks,
    "gif_sub_blocks": gif_sub_blocks,
    "gif_frames": gif_frames,
    "riff_chunks": riff_chunks,
}
HEIF_SHAPES = {
    "heic_one_tile_referenced": one_tile_referenced,
    "heic_top_level_boxes": top_level_boxes,
    "heic_meta_children": meta_children,
    "heic_iref_boxes": iref_boxes,
}


def _check_linear(make, small: int) -> None:
    work(make(small))  # warm: first-use imports and caches are not the file's cost
    sizes, counts = [], []
    for n in (small, small * SCALE):
        data = make(n)
        count, outcome = work(data)
        assert outcome != "over the cap", f"{len(data)} bytes: over {WORK_CAP} lines"
        assert count <= 50_000 + LINES_PER_BYTE * len(data), (len(data), count, outcome)
        sizes.append(len(data))
        counts.append(count)
    # The work grows no faster than the bytes (with room for fixed costs and noise).
    assert counts[1] <= 1.5 * counts[0] * sizes[1] / sizes[0] + 50_000, (sizes, counts)


@pytest.mark.parametrize("shape", SHAPES)
def test_container_walks_are_linear(shape):
    _check_linear(SHAPES[shape], 2000)


@pytest.mark.parametrize("shape", HEIF_SHAPES)
def test_heif_parse_is_linear(shape):
    _check_linear(HEIF_SHAPES[shape], 500)


def test_many_property_associations_are_linear(monkeypatch):
    _check_linear(lambda n: many_associations(n, monkeypatch), 40)


def test_a_grid_of_many_tiles_is_linear():
    _check_linear(many_tiles, 100)


def test_a_tile_referenced_thousands_of_times_costs_one_check():
    # 28 KB used to cost 16 s: every reference scanned the tile's list of properties.
    _check_linear(one_tile_referenced, 2000)
    count, _ = work(one_tile_referenced(16_000))
    assert count < 400_000


def test_the_budget_counts_steps_in_proportion_to_the_size():
    budget = Budget(bytes(2_000_000))
    budget.spend(1000)
    assert (budget.steps, budget.limit) == (1000, 20_000 + 2_000_000 // 200)
    with pytest.raises(InvalidImage, match="unreasonable number of tiny blocks"):
        budget.spend(budget.limit)
