"""What every engine shares: the rendering plan, the thread pool and the decisions that
must not differ between engines (output format, shrink-on-load, which profile to trust).

An engine subclasses BaseEngine and says how to open, load, resize and encode. The plan:

1. ``open``: read the header (format sniffed by Pillow, exactly as the upload probe does).
2. ``load``: decode once, shrinking on load where the format allows, straight to the
   largest rendition, then convert to sRGB and apply the EXIF orientation, in that order:
   doing colour and rotation on the resized image is several times cheaper than on the source.
3. Every smaller rendition is cascaded from the smallest one already made that is at least
   ``CASCADE_GAP`` times larger, which keeps each resize cheap and its quality intact.
4. Encodes run in a small thread pool while the main thread resizes the next rendition;
   ``on_output`` is called from the pool as each output is ready.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageCms

from ..errors import not_an_image
from ..spec import RenditionSpec
from . import Output

# Shrink on load (JPEG DCT scaling, Pillow's draft) while the decoded image stays at least this
# many times larger than the largest rendition. The DCT shrink is a little aliased; a LANCZOS of
# 1.4x or more after it keeps renditions above 42 dB of a full-decode reference even on sharp
# photos. libvips' thumbnail keeps 2x (a few dB more), but then a 24 MP photo decodes in full
# for its 2048 px rendition: twice the time, and over the 64 MB memory budget.
LOAD_GAP = 1.4
# Integer box reduction before LANCZOS inside each resize, as libvips' and Pillow's
# ``reducing_gap``: quality indistinguishable from a full LANCZOS, at a fraction of the cost.
REDUCING_GAP = 3.0
CASCADE_GAP = 2.0
WORKERS = 2
PNG_COMPRESSION = 3  # zlib level: most of level 6's size at a third of its time
# EXIF orientation -> the Pillow transpose that shows the image upright (EXIF 2.32, 4.6.4).
ORIENTATIONS = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_SPEC_FORMATS = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP"}
_PROFILE_BANDS = {"RGB ": 3, "CMYK": 4, "GRAY": 1}

Size = tuple[int, int]


@dataclass
class Source:
    """An opened upload: its format, displayed size, orientation and the engine's handle."""

    format: str
    formats: Sequence[str]  # the allowed ones, for the error message
    size: Size  # as displayed, after orientation
    orientation: int
    handle: Any


class BaseEngine:
    """Decode once, resize to the largest rendition, cascade the rest, encode in a pool.

    Subclass it and override ``open``, ``load``, ``resize`` and ``encode`` to make an engine;
    name the subclass by dotted path in ``IMAGES_APP["ENGINE"]`` to use it.
    """

    # The formats (Pillow names) this engine decodes; None: all. Others go to the fallback
    # engine (engines.decoder_for).
    decodes: frozenset[str] | None = None

    def render(
        self,
        data: bytes,
        specs: Sequence[RenditionSpec],
        *,
        formats: Sequence[str],
        on_output: Callable[[Output], None] | None = None,
    ) -> list[Output]:
        """Return one Output per spec, in spec order (see ``engines.render``)."""
        source = self.open(data, formats)
        sizes = [spec.target_size(*source.size) for spec in specs]
        plan = sorted(set(sizes), key=lambda size: size[0] * size[1], reverse=True)
        if not plan:
            return []
        image, transparent = self.load(source, plan[0])
        source.handle = None  # the full-size decode can go before the cascade allocates
        groups = _group(specs, sizes, transparent)
        pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="images-render")
        try:
            jobs = self._submit(pool, plan, image, groups, specs, on_output)
            outputs: list[Output] = [None] * len(specs)  # type: ignore[list-item]
            for key, job in jobs.items():
                for index, output in zip(groups[key], job.result(), strict=True):
                    outputs[index] = output
            return outputs
        finally:
            pool.shutdown(cancel_futures=True)  # after a failure, start no more encodes

    def _submit(self, pool, plan, largest, groups, specs, on_output) -> dict[tuple, Future]:
        made = {plan[0]: largest}
        jobs = {}
        for size in plan:  # largest first, so the longest encode starts soonest
            if size not in made:
                made[size] = self.resize(cascade_source(made, size), size)
            for key in [key for key in groups if key[0] == size]:
                names = [specs[index].name for index in groups[key]]
                jobs[key] = pool.submit(self._encode, made[size], key, names, on_output)
        return jobs

    def _encode(self, image, key, names, on_output) -> list[Output]:
        (width, height), fmt, quality = key
        data = self.encode(image, fmt, quality)
        outputs = [Output(name, data, fmt, width, height) for name in names]
        if on_output is not None:
            for output in outputs:
                on_output(output)
        return outputs

    # What an engine provides.

    def open(self, data: bytes, formats: Sequence[str]) -> Source:
        """Read the header; raise InvalidImage if it is not one of ``formats``."""
        raise NotImplementedError

    def load(self, source: Source, size: Size) -> tuple[Any, bool]:
        """Decode the first frame at ``size`` (displayed), upright, in sRGB; and whether it
        has transparency (an alpha channel with any value below 255; else it is dropped)."""
        raise NotImplementedError

    def resize(self, image: Any, size: Size) -> Any:
        """LANCZOS resize (premultiplied where there is alpha) to exactly ``size``."""
        raise NotImplementedError

    def encode(self, image: Any, fmt: str, quality: int) -> bytes:
        """Encode with no metadata at all; flatten onto white for JPEG."""
        raise NotImplementedError


def _group(specs, sizes, transparent) -> dict[tuple, list[int]]:
    """Spec indexes by (size, format, quality): specs that come out identical (a small
    source fits several boxes as it is) share one encode."""
    groups: dict[tuple, list[int]] = {}
    for index, (spec, size) in enumerate(zip(specs, sizes, strict=True)):
        groups.setdefault((size, output_format(spec, transparent), spec.quality), []).append(index)
    return groups


def output_format(spec: RenditionSpec, transparent: bool) -> str:
    """The spec's explicit format, else PNG for transparent sources and JPEG for opaque ones."""
    return _SPEC_FORMATS.get(spec.format) or ("PNG" if transparent else "JPEG")


def cascade_source(made: dict[Size, Any], size: Size) -> Any:
    """The smallest rendition made so far that is at least CASCADE_GAP times ``size``."""
    width, height = size
    large = [s for s in made if s[0] >= CASCADE_GAP * width and s[1] >= CASCADE_GAP * height]
    # ``made`` holds the largest first: the fallback, from which every size can be made.
    return made[min(large, key=lambda s: s[0] * s[1])] if large else next(iter(made.values()))


def stored(size: Size, orientation: int) -> Size:
    """A displayed size as stored in the file: orientations 5-8 swap width and height."""
    return (size[1], size[0]) if orientation in (5, 6, 7, 8) else size


def shrink_factor(source: Size, target: Size) -> int:
    """The JPEG scale denominator (1, 2, 4 or 8) that still leaves LOAD_GAP for the resize."""
    room = min(source[0] / (LOAD_GAP * target[0]), source[1] / (LOAD_GAP * target[1]))
    return next(factor for factor in (8, 4, 2, 1) if factor <= room or factor == 1)


def usable_profile(icc: bytes | None, bands: int) -> ImageCms.ImageCmsProfile | None:
    """The embedded ICC profile if lcms can read it and it fits the pixels, else None.

    A profile that is broken or describes another colour space is ignored (the pixels are
    then taken as sRGB, or converted as plain CMYK), as browsers do.
    """
    if not icc:
        return None
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
    except (OSError, ValueError, ImageCms.PyCMSError):
        return None
    return profile if _PROFILE_BANDS.get(profile.profile.xcolor_space) == bands else None


def pillow_format(data: bytes, formats: Sequence[str]) -> str:
    """The Pillow format name of ``data`` among ``formats``, read from its header."""
    try:
        with Image.open(io.BytesIO(data), formats=list(formats)) as image:
            return image.format
    except Exception as exc:  # Pillow raises many types on hostile input
        raise not_an_image(formats) from exc
