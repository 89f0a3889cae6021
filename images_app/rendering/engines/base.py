"""What every engine shares: the rendering plan, the thread pool and the decisions that
must not differ between engines (output format, shrink-on-load, which profile to trust).

An engine subclasses BaseEngine and says how to open, load, finish, resize and encode. The
plan:

1. ``open``: read the header (format sniffed by Pillow, exactly as the upload probe does).
2. ``load``: decode once, shrinking on load where the format allows (``shrink_factor``);
   ``Source.decoded_by`` says which decoder ran, and every Output carries it.
3. ``finish``: from the decode, resize to a rendition, then convert to sRGB and apply the EXIF
   orientation, in that order: colour and rotation on the resized image are several times
   cheaper than on the source. The largest rendition is made so, and so is any other that no
   rendition made from the decode is ``CASCADE_GAP`` times larger than (``cascade_plan``).
4. The rest are cascaded, each from the smallest rendition made from the decode that is at
   least ``CASCADE_GAP`` times larger: cheap resizes, and never more than two resampling steps
   from the decode (a third softens one-pixel lines past 40 dB of a one-step reference).
5. Encodes run in a small thread pool (``threads``, default WORKERS) while the main thread
   resizes the next rendition; ``on_output`` is called from the pool as each output is ready.
   ``threads=1``: no pool, each encode runs on the calling thread (a Celery worker's renders).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageCms

from ..containers import signature_format
from ..errors import not_an_image
from ..spec import RenditionSpec
from . import Output
from .inline import InlineExecutor

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
    icc: bytes | None = None  # the embedded profile, set by ``load``
    decoded_by: str = ""  # which decoder ran, and at what scale: set by ``load``


class BaseEngine:
    """Decode once, resize to the largest rendition, cascade the rest, encode in a pool.

    Subclass it and override ``open``, ``load``, ``resize`` and ``encode`` to make an engine;
    name the subclass by dotted path in ``IMAGES_APP["ENGINE"]`` to use it.
    """

    # The formats (Pillow names) this engine decodes; None: all. Others go to the fallback
    # engine (engines.decoder_for).
    decodes: frozenset[str] | None = None
    # Whether every rendition no decode-made rendition is CASCADE_GAP times larger than is
    # also made from the decode (``cascade_plan``): sharper, but the decode is kept longer.
    cascade_from_decode = True

    def render(
        self,
        data: bytes,
        specs: Sequence[RenditionSpec],
        *,
        formats: Sequence[str],
        on_output: Callable[[Output], None] | None = None,
        threads: int = WORKERS,
    ) -> list[Output]:
        """Return one Output per spec, in spec order (see ``engines.render``)."""
        source = self.open(data, formats)
        sizes = [spec.target_size(*source.size) for spec in specs]
        plan = sorted(set(sizes), key=lambda size: size[0] * size[1], reverse=True)
        if not plan:
            return []
        decoded, transparent = self.load(source, plan[0])
        source.handle = None  # the file's own buffers can go before the renditions allocate
        groups = group_specs(specs, sizes, transparent)
        pool = render_pool(threads)
        try:
            jobs = self._submit(pool, source, decoded, plan, groups, specs, on_output)
            return collect_outputs(jobs, groups, len(specs))
        finally:
            pool.shutdown(cancel_futures=True)  # after a failure, start no more encodes

    def _submit(self, pool, source, decoded, plan, groups, specs, on_output) -> dict:
        steps = cascade_plan(plan, from_decode=self.cascade_from_decode)
        last = max(index for index, size in enumerate(plan) if steps[size] is None)
        made: dict[Size, Any] = {}
        jobs: dict[tuple, Future] = {}
        for index, size in enumerate(plan):  # largest first: the longest encode starts soonest
            step = steps[size]
            made[size] = self.finish(decoded, source, size) if step is None else None
            made[size] = self.resize(made[step], size) if step is not None else made[size]
            if index == last:
                decoded = None  # the rest come from renditions: the decode can go
            for key in [key for key in groups if key[0] == size]:
                names = [specs[i].name for i in groups[key]]
                job = (made[size], key, names, source.decoded_by, on_output)
                jobs[key] = pool.submit(self._encode, *job)
        return jobs

    def _encode(self, image, key, names, decoded_by, on_output) -> list[Output]:
        (width, height), fmt, quality = key
        data = self.encode(image, fmt, quality)
        outputs = [Output(name, data, fmt, width, height, decoded_by) for name in names]
        if on_output is not None:
            for output in outputs:
                on_output(output)
        return outputs

    # What an engine provides.

    def open(self, data: bytes, formats: Sequence[str]) -> Source:
        """Read the header; raise InvalidImage if it is not one of ``formats``."""
        raise NotImplementedError

    def load(self, source: Source, size: Size) -> tuple[Any, bool]:
        """Decode the first frame, shrunk on load where the format allows while it stays
        LOAD_GAP times larger than ``size`` (displayed), 8 bits per sample; and whether it has
        transparency (an alpha channel with any value below 255; else it is dropped). Sets
        ``source.icc`` and ``source.decoded_by``."""
        raise NotImplementedError

    def finish(self, decoded: Any, source: Source, size: Size) -> Any:
        """A rendition of ``size`` (displayed) from the decode: resized, in sRGB, upright."""
        raise NotImplementedError

    def resize(self, image: Any, size: Size) -> Any:
        """LANCZOS resize (premultiplied where there is alpha) to exactly ``size``."""
        raise NotImplementedError

    def encode(self, image: Any, fmt: str, quality: int) -> bytes:
        """Encode with no metadata at all; flatten onto white for JPEG."""
        raise NotImplementedError


def render_pool(threads: int) -> ThreadPoolExecutor | InlineExecutor:
    """The encode pool of one render: ``threads`` workers, or none (the calling thread) for 1."""
    if threads > 1:
        return ThreadPoolExecutor(threads, thread_name_prefix="images-render")
    return InlineExecutor()


def collect_outputs(jobs: dict[tuple, Future], groups: dict[tuple, list[int]], count: int):
    """One Output per spec, in spec order, from the encode jobs of each group."""
    outputs: list[Output] = [None] * count  # type: ignore[list-item]
    for key, job in jobs.items():
        for index, output in zip(groups[key], job.result(), strict=True):
            outputs[index] = output
    return outputs


def group_specs(specs, sizes, transparent) -> dict[tuple, list[int]]:
    """Spec indexes by (size, format, quality): specs that come out identical (a small
    source fits several boxes as it is) share one encode."""
    groups: dict[tuple, list[int]] = {}
    for index, (spec, size) in enumerate(zip(specs, sizes, strict=True)):
        groups.setdefault((size, output_format(spec, transparent), spec.quality), []).append(index)
    return groups


def output_format(spec: RenditionSpec, transparent: bool) -> str:
    """The spec's explicit format, else PNG for transparent sources and JPEG for opaque ones."""
    return _SPEC_FORMATS.get(spec.format) or ("PNG" if transparent else "JPEG")


def cascade_plan(plan: Sequence[Size], *, from_decode: bool = True) -> dict[Size, Size | None]:
    """Size -> the rendition it is resized from, or None: from the decode (``finish``).

    ``plan`` is largest first. A size comes from the smallest rendition made from the decode
    that is at least CASCADE_GAP times larger, else from the decode: at most two resampling
    steps. A longer chain (4000 -> 2048 -> 1600, or 2048 -> 1024 -> 300 -> 150) measured
    38.9 dB against one-step LANCZOS on the sharp test chart; these stay above 41 dB.
    ``from_decode=False``: only the largest comes from the decode, the rest from the smallest
    rendition made that is CASCADE_GAP times larger, else from the largest (chains allowed).
    """
    steps: dict[Size, Size | None] = {}
    for width, height in plan:
        bigger = [
            size
            for size, step in steps.items()
            if (step is None or not from_decode)
            and size[0] >= CASCADE_GAP * width
            and size[1] >= CASCADE_GAP * height
        ]
        if bigger:
            steps[width, height] = min(bigger, key=lambda s: s[0] * s[1])
        else:
            steps[width, height] = None if from_decode or not steps else plan[0]
    return steps


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


def source_format(data: bytes, formats: Sequence[str]) -> str:
    """The format of ``data`` among ``formats``: from its signature where it is a container
    the probe walks, so a file Pillow can't open (an AVIF whose primary item is derived, say)
    still reaches the engine that decodes it; else as Pillow reads it."""
    fmt = signature_format(data)
    if fmt is not None and fmt in {name.upper() for name in formats}:
        return fmt
    return pillow_format(data, formats)


def pillow_format(data: bytes, formats: Sequence[str]) -> str:
    """The Pillow format name of ``data`` among ``formats``, read from its header."""
    try:
        with Image.open(io.BytesIO(data), formats=list(formats)) as image:
            return image.format
    except Exception as exc:  # Pillow raises many types on hostile input
        raise not_an_image(formats) from exc
