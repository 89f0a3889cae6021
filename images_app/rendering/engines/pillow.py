"""The Pillow engine: as fast as Pillow allows, the same pictures as the libvips engine.

4:2:0 colour JPEGs (what cameras and phones send) take the planar path (``_Planar``), on the
libvips engine too where fast_image_resize is installed (``resample``): the luma is decoded
alone (Pillow's draft mode "L": no chroma IDCT, upsampling or colour conversion) at the scale
the largest rendition needs, and on a second thread the whole picture in YCbCr at half that
scale, where its chroma is at the file's own resolution (at a quarter where that still holds
the colour every big rendition keeps: ``_Planar._colour_factor``). The renditions the half
decode is _HALF_GAP times larger than are small: resized from the first half-size colour made
for a big one (a YCbCr resize of the half decode) where that is twice their size, else from
the half decode itself; two resampling steps after the decode at most either way. The big
ones resize only their luma from the luma decode, one LANCZOS step each, and take their chroma
from the half decode at the resolution the output keeps: half size for a 4:2:0 JPEG with even
sides (encoded straight from the three planes, ``Planes``), full size otherwise (merged, then
encoded or converted by Pillow). The ICC conversion and the orientation are done on each
rendition.

Everything else follows BaseEngine's plan: JPEG draft where the largest rendition leaves room,
premultiplied LANCZOS, split into two strips on two threads where large, colour and orientation
on the result, encodes in the shared thread pool (Pillow releases the GIL).
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial

from PIL import Image, ImageCms, JpegImagePlugin

from ..containers import LibavifPlan, libavif_plan
from ..probe import exif_orientation, not_an_image
from . import Output, turbo
from .base import (
    CASCADE_GAP,
    ORIENTATIONS,
    PNG_COMPRESSION,
    REDUCING_GAP,
    WORKERS,
    BaseEngine,
    Size,
    Source,
    cascade_plan,
    collect_outputs,
    group_specs,
    render_pool,
    shrink_factor,
    stored,
    usable_profile,
)
from .resample import FAST, bilinear, lanczos

_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
# Split resizes producing more pixels than this over two threads; below it, not worth a thread.
_STRIP_PIXELS = 1_000_000
_WHITE = {"L": 255, "RGB": (255, 255, 255)}
_PREMULTIPLIED = {"RGBA": "RGBa", "LA": "La"}
# The planar path makes a rendition from the half-scale decode only where that decode is at
# least this many times larger: each DCT-scaled 8x8 block rings on one-pixel lines, and a
# LANCZOS of 2x filters it out (a sharp chart: 44 dB at 2x, 39 at 1.8, 29 at 1.4); photos
# keep 46 dB even at 1.4. The others take their luma from the luma decode.
_HALF_GAP = 2.0
# The colour decode may be this much smaller than the colour the largest rendition keeps (then
# resized up to it): 4:2:0 colour at 97.5% of its size is not a difference anyone sees, and a
# 12 MP photo (4000 or 4032 wide) then decodes its colour at 1/4 for a 2048 px rendition.
_COLOUR_SLACK = 0.95


class PillowEngine(BaseEngine):
    """Pillow only: works wherever Pillow does; see BaseEngine for the plan."""

    def render(self, data, specs, *, formats, on_output=None, threads=WORKERS) -> list[Output]:
        options = {"formats": formats, "on_output": on_output, "threads": threads}
        outputs = self.render_planar(data, specs, **options)
        return outputs if outputs is not None else super().render(data, specs, **options)

    def render_planar(self, data, specs, *, formats, on_output=None, threads=WORKERS):
        """The outputs of the planar path (``_Planar``), or None where it does not take the
        upload (not a 4:2:0 colour JPEG, or one libjpeg refuses to decode so)."""
        source = self.open(data, formats)
        sizes = [spec.target_size(*source.size) for spec in specs]
        factor = _planar_factor(source, sizes)
        if factor is None:
            return None
        return _Planar(self, source, factor, threads).render(data, specs, sizes, on_output)

    def open(self, data: bytes, formats: Sequence[str]) -> Source:
        plan = libavif_plan(data)
        if plan.refusal is not None:
            raise plan.refusal
        try:
            image = Image.open(io.BytesIO(data), formats=list(formats))
        except Exception as exc:  # Pillow raises many types on hostile input
            raise not_an_image(formats) from exc
        orientation = _orientation(image)
        image = _cropped(image, plan, formats)
        size = (image.height, image.width) if orientation in (5, 6, 7, 8) else image.size
        return Source(image.format, formats, size, orientation, image)

    def load(self, source: Source, size: Size) -> tuple[Image.Image, bool]:
        image = source.handle
        factor = 1
        try:
            if source.format == "JPEG":
                factor = shrink_factor(image.size, stored(size, source.orientation))
            if factor > 1:
                image.draft(image.mode, (image.width // factor, image.height // factor))
            image.load()
        except Exception as exc:
            raise not_an_image(source.formats) from exc
        source.icc = image.info.get("icc_profile")
        source.decoded_by = f"pillow 1/{factor}"
        return _normalize(image)

    def finish(self, decoded: Image.Image, source: Source, size: Size) -> Image.Image:
        image = _to_srgb(self.resize(decoded, stored(size, source.orientation)), source.icc)
        if source.orientation in ORIENTATIONS:
            image = image.transpose(ORIENTATIONS[source.orientation])
        if image is decoded:
            image = image.copy()  # the rendition's info is cleared below, not the decode's
        image.info = {}  # else Pillow writes some of it (ICC, comments) into some formats
        return image

    def resize(self, image: Image.Image, size: Size) -> Image.Image:
        if image.size == size:
            return image
        mode = image.mode
        image = image.convert(_PREMULTIPLIED[mode]) if mode in _PREMULTIPLIED else image
        if size[0] * size[1] > _STRIP_PIXELS:
            image = _resize_in_strips(image, size)
        else:
            image = image.resize(size, Image.Resampling.LANCZOS, reducing_gap=REDUCING_GAP)
        return image.convert(mode) if image.mode != mode else image

    def encode(self, image: Image.Image | Planes, fmt: str, quality: int) -> bytes:
        if isinstance(image, Planes):  # the planar path's JPEGs that keep 4:2:0 (_Planar)
            return image.encode(quality)
        if fmt == "JPEG" and image.mode in ("RGBA", "LA"):
            image = _flatten(image)
        elif fmt != "JPEG" and image.mode == "YCbCr":
            image = image.convert("RGB")
        buffer = io.BytesIO()
        if fmt == "JPEG":
            image.save(buffer, "JPEG", quality=quality, subsampling=_subsampling(quality))
        elif fmt == "PNG":
            # zlib's run-length strategy on Pillow's filtered rows: about the size of level 3
            # on photos and of level 6 on graphics, in two thirds of level 3's time (measured).
            image.save(buffer, "PNG", compress_level=PNG_COMPRESSION, compress_type=zlib.Z_RLE)
        else:
            image.save(buffer, "WEBP", quality=quality, method=4)
        return buffer.getvalue()


class _Planar:
    """One 4:2:0 JPEG rendered from its luma and a half-scale YCbCr decode (module docstring).

    The colour decode runs on the pool while the calling thread decodes the luma, and the
    work that needs only the colour follows it on the same thread (``_colour_lane``): the big
    renditions' half-size colour and the small renditions, encoded (handed over once the luma
    decode has succeeded too). The colour decode ends well before the luma's (a 12 MP photo:
    28 against 35 ms), so that work fills the gap instead of following the luma decode. Then
    every luma step is a task of the pool, each resize on one thread, while the calling thread
    waits: a big rendition's luma, its full-size colour where it needs one (``_full_chroma``),
    the bigger one's merge and encodes behind them. On two cores this keeps both busy from the
    decodes to the last encode.
    """

    def __init__(self, engine: PillowEngine, source: Source, factor: int, threads: int):
        self.engine, self.source, self.factor, self.threads = engine, source, factor, threads
        self.size = source.handle.size  # as stored
        self.progressive = bool(source.handle.info.get("progressive"))
        self.profile = _transform(source.handle.info.get("icc_profile"))
        self.decoded_by = f"pillow 1/{factor} ycbcr"
        self.colour_factor = 2 * factor  # the colour decode's scale denominator (_colour_factor)

    def render(self, data: bytes, specs, sizes: list[Size], on_output) -> list[Output] | None:
        """One Output per spec, in spec order; None where libjpeg refused a planar decode."""
        groups = group_specs(specs, sizes, transparent=False)  # 4:2:0 JPEGs are opaque
        self.colour_factor = self._colour_factor(groups)
        pool = render_pool(self.threads)  # 1: one thread from decode to encode
        try:
            colour_work = partial(self._colour_work, groups, specs)
            decoded = self._decode(data, pool, colour_work)
            if decoded is None:
                return None
            self.source.handle = None  # the file's own buffers can go
            self.source.decoded_by = self.decoded_by
            jobs = self._submit(pool, groups, specs, on_output, *decoded)
            return collect_outputs(jobs, groups, len(specs))
        finally:
            pool.shutdown(cancel_futures=True)  # after a failure, start no more encodes

    def _decode(self, data: bytes, pool, colour_work) -> tuple[Image.Image, Future] | None:
        """The luma decode and the Future of ``colour_work`` on the colour decode; None where
        libjpeg refused either (an RGB-coded or damaged file: the plain path decodes it or says
        why)."""
        if self.progressive:
            # Entropy decoding is most of a progressive decode: do it once, then reduce.
            try:
                full = _draft(data, "YCbCr", self.size, self.factor)
            except Exception:
                return None
            luma, half = full.getchannel(0), full.reduce(self.colour_factor // self.factor)
            if half.size != _scaled(self.size, self.colour_factor):
                return None
            colour = pool.submit(colour_work, half)
        else:
            decoded: Future = Future()
            try:
                lane = (data, self.size, self.colour_factor, decoded, colour_work)
                colour = pool.submit(_colour_lane, *lane)
            except Exception:  # one thread: the lane ran on this one and raised
                if decoded.exception() is None:
                    raise  # from the colour work (a resize, an encode), not the decode
                return None
            try:
                luma = _draft(data, "L", self.size, self.factor)
                decoded.result()
            except Exception:
                return None
        return (luma, colour) if luma.size == _scaled(self.size, self.factor) else None

    def _colour_factor(self, groups) -> int:
        """The colour decode's scale denominator: half the luma's scale (the file's own colour
        resolution for 4:2:0), or a quarter of it where that still holds _COLOUR_SLACK of the
        colour the largest rendition keeps (a 4:2:0 JPEG's half-size chroma) and no big
        rendition needs its colour at full size (``_exact``). A 12 MP photo's colour at 1/4 is
        1000x750 for the 2048 px rendition's 1024x768: a quarter of the decode's output, 4 ms
        less decoding, and renditions as close to one-step LANCZOS as with the half-scale
        colour (within 0.2 dB, the photo and the chart)."""
        half, quarter = 2 * self.factor, 4 * self.factor
        if quarter > 8 or min(self.size) < 2 * quarter:
            return half
        colour = _scaled(self.size, quarter)
        plan, sizes = self._plan(groups)
        largest = sizes[plan[0]]
        kept = ((largest[0] + 1) // 2, (largest[1] + 1) // 2)
        if colour[0] < _COLOUR_SLACK * kept[0] or colour[1] < _COLOUR_SLACK * kept[1]:
            return half
        bigs = self._bigs(plan, sizes, colour)
        return half if any(self._exact(groups, size) for size in bigs) else quarter

    def _plan(self, groups) -> tuple[list[Size], dict[Size, Size]]:
        """The displayed sizes of ``groups``, largest first, and each one as stored."""
        plan = sorted({key[0] for key in groups}, key=_area, reverse=True)
        return plan, {size: stored(size, self.source.orientation) for size in plan}

    def _bigs(self, plan: list[Size], sizes: dict[Size, Size], colour: Size) -> list[Size]:
        """The sizes of ``plan`` that a colour decode of ``colour`` is not _HALF_GAP times
        larger than: their luma comes from the luma decode."""
        return [size for size in plan if not _fits(colour, sizes[size], _HALF_GAP)]

    def _colour_work(self, groups, specs, half: Image.Image) -> tuple[dict, dict]:
        """What needs only the colour decode ``half``: the colour of each big rendition by
        stored size (``_chroma``), and the small renditions' encoded outputs by group key, not
        yet handed over (``_submit`` does that once the luma decode has taken the file too)."""
        plan, sizes = self._plan(groups)
        bigs = self._bigs(plan, sizes, half.size)
        # YCbCr sources of the big renditions' colour: the half decode, then each half-size
        # colour made for a bigger one.
        colour = {half.size: half}
        chromas = {
            sizes[size]: self._chroma(half, sizes[size], colour, self._exact(groups, size))
            for size in bigs
        }
        smalls = [size for size in plan if size not in bigs]
        if not smalls:
            return chromas, {}
        stored_smalls = [sizes[size] for size in smalls]
        made = [size for size in colour if size != half.size]
        if made and _fits(made[0], stored_smalls[0], CASCADE_GAP):  # the biggest's colour
            renditions = self._small_renditions(colour[made[0]], stored_smalls, False)
        else:
            renditions = self._small_renditions(half, stored_smalls, True)
        outputs = {}
        for key, indexes in groups.items():
            if key[0] in smalls:
                names = [specs[index].name for index in indexes]
                image = self._finish(renditions[sizes[key[0]]])
                outputs[key] = self.engine._encode(image, key, names, self.decoded_by, None)
        return chromas, outputs

    def _submit(self, pool, groups, specs, on_output, luma, colour: Future) -> dict:
        """The encode job of each group. Every luma step is a task of its own on the pool
        (each resize on one thread), submitted after the tasks it waits on: a big rendition's
        luma and, where it needs one, its full-size colour, then the previous big one's merge
        and encodes. The small renditions come from ``colour`` (``_colour_work``), handed to
        ``on_output`` as soon as it is done: the planar path is taken by now, so no fallback
        will encode them again."""
        plan, sizes = self._plan(groups)
        bigs = self._bigs(plan, sizes, _scaled(self.size, self.colour_factor))
        steps = cascade_plan([sizes[size] for size in bigs])  # None: from the luma decode
        direct = [size for size in bigs if steps[sizes[size]] is None]
        strips = not FAST and len(direct) == 1 and self.threads > 1  # Pillow: two halves
        lumas: dict[Size, Future] = {}  # by stored size; the tasks hold the decode meanwhile
        jobs: dict[tuple, Future] = {}

        def finish(size: Size, chroma: Future, exact: bool) -> None:
            picture = _then(pool, self._picture, lumas[sizes[size]], chroma, exact)
            for key in [key for key in groups if key[0] == size]:
                names = [specs[index].name for index in groups[key]]
                job = (key, names, self.decoded_by, on_output)
                jobs[key] = _then(pool, self.engine._encode, picture, *job)

        waiting = None  # a big rendition's merge and encodes, submitted behind the next resize
        for size in bigs:  # largest first: the longest encode starts soonest
            target, step = sizes[size], steps[sizes[size]]
            if step is None:
                lumas[target] = _then(pool, _resize_luma, luma, target, strips)
            else:
                lumas[target] = _then(pool, _resize, lumas[step], target)
            # The colour: made by the colour lane, or scaled to full size by a task of its own
            # (the half decode to a 2048x1365 rendition: 9 ms) before the merge needs it.
            if exact := self._exact(groups, size):
                chroma = _then(pool, _full_chroma, colour, target)
            else:
                chroma = _mapped(colour, lambda work, target=target: work[0][target])
            if waiting is not None:
                finish(*waiting)
            waiting = (size, chroma, exact)
        if waiting is not None:
            finish(*waiting)
        if len(jobs) < len(groups):  # in order; after a failed hand-over, none of the rest
            handed = _mapped(colour, partial(_hand_over, on_output=on_output))
            for key in groups:
                if key not in jobs:
                    jobs[key] = _mapped(handed, lambda outputs, key=key: outputs[key])
        return jobs

    def _picture(self, luma: Image.Image, colour, exact: bool) -> Image.Image | Planes:
        """A big rendition from its luma and its colour, finished: ``colour`` is its Cb and Cr
        at full size if ``exact`` (``_full_chroma``), else YCbCr at half its size."""
        if exact:
            return self._finish(_merge(luma, *colour))
        chroma = [colour.getchannel(band) for band in ("Cb", "Cr")]
        planes = _planar_encodes(luma.size)
        return self._finish((Planes if planes else _merge)(luma, *chroma))

    def _small_renditions(self, base: Image.Image, sizes: list[Size], cascade: bool) -> dict:
        """The small renditions of ``sizes`` (stored): each from ``base``, and if ``cascade``
        (``base`` is the half decode) those with a rendition twice their size from it
        (cascade_plan): at most two resampling steps after the decode either way."""
        made = {base.size: base}
        steps = cascade_plan(sizes) if cascade else dict.fromkeys(sizes)  # None: from base
        for size in sizes:
            made[size] = _resize(made[steps[size] or base.size], size)
        return made

    def _exact(self, groups, size: Size) -> bool:
        """Whether the rendition of ``size`` needs its colour at full size: some output of it
        keeps it (PNG, WebP, JPEG q90+), it goes through an ICC conversion, or a side is odd
        (the encoder's half-size chroma then covers one pixel more than the picture: the
        encoder pads it)."""
        if self.profile is not None or size[0] % 2 or size[1] % 2:
            return True
        return not all(_halves_chroma(*key[1:]) for key in groups if key[0] == size)

    def _chroma(self, half: Image.Image, size: Size, colour: dict, exact: bool):
        """The colour of a big rendition of ``size`` (stored): the half decode itself if
        ``exact`` (``_full_chroma`` scales it to full size); else a YCbCr image at half its size
        (what a 4:2:0 encoder keeps), resized from the smallest YCbCr source in ``colour`` large
        enough, the half decode or one made here before (and added to it)."""
        if exact:
            return half
        kept = ((size[0] + 1) // 2, (size[1] + 1) // 2)
        if kept not in colour:  # one resize of all three bands: no copy of the planes first
            bases = [other for other in colour if other[0] >= kept[0] and other[1] >= kept[1]]
            base = min(bases, key=_area) if bases else max(colour, key=_area)  # _COLOUR_SLACK
            colour[kept] = _resize(colour[base], kept)
        return colour[kept]

    def _finish(self, image: Image.Image | Planes) -> Image.Image | Planes:
        if self.profile is not None:  # the embedded profile's transform to sRGB
            image = ImageCms.applyTransform(image.convert("RGB"), self.profile)
        if self.source.orientation in ORIENTATIONS:
            image = image.transpose(ORIENTATIONS[self.source.orientation])
        if isinstance(image, Image.Image):
            image.info = {}  # else Pillow writes some of it (ICC, comments) into some formats
        return image


def _colour_lane(data: bytes, size: Size, factor: int, decoded: Future, colour_work):
    """The colour decode of ``data`` (``size`` as stored) at 1/``factor``, then
    ``colour_work`` on it. ``decoded`` is set as soon as the decode ends: None, or why it
    cannot be used (libjpeg refused it, or it came out at another size)."""
    try:
        half = _draft(data, "YCbCr", size, factor)
        if half.size != _scaled(size, factor):
            raise ValueError(f"colour decoded at {half.size}, not {_scaled(size, factor)}")
    except BaseException as exc:
        decoded.set_exception(exc)
        raise
    decoded.set_result(None)
    return colour_work(half)


@dataclass
class Planes:
    """A rendition as a 4:2:0 JPEG keeps it: the luma and its Cb and Cr at half its size,
    rounded up. Encoded as they are (TurboJPEG's planar encode): no merge, no colour
    conversion and no chroma averaging, which the merged image would cost to give back the same
    planes."""

    luma: Image.Image
    cb: Image.Image
    cr: Image.Image

    def transpose(self, method: Image.Transpose) -> Planes:
        return Planes(*(plane.transpose(method) for plane in (self.luma, self.cb, self.cr)))

    def encode(self, quality: int) -> bytes:
        import numpy  # simplejpeg's own dependency

        planes = [numpy.asarray(plane) for plane in (self.luma, self.cb, self.cr)]
        return turbo.simplejpeg.encode_jpeg_yuv_planes(*planes, quality=quality)


def _planar_encodes(size: Size) -> bool:
    """Whether a rendition of ``size`` is encoded from its planes (``Planes``): where
    simplejpeg is installed and both sides are even. simplejpeg 1.9.0 reads past the end of
    the planes when a side is odd (valgrind, on its own test of one encode), so those go
    through ``_merge`` and Pillow's encoder."""
    return turbo.simplejpeg is not None and size[0] % 2 == 0 and size[1] % 2 == 0


def _merge(luma: Image.Image, *chroma: Image.Image) -> Image.Image:
    """``luma`` with its Cb and Cr, which are its size or half it: then each sample is
    doubled, which a 4:2:0 JPEG encoder's 2x2 average gives back exactly."""
    if chroma[0].size != luma.size:
        box = (0, 0, luma.width / 2, luma.height / 2)
        chroma = [band.resize(luma.size, Image.Resampling.NEAREST, box=box) for band in chroma]
    return Image.merge("YCbCr", (luma, *chroma))


def _planar_factor(source: Source, sizes: list[Size]) -> int | None:
    """The luma decode's JPEG scale denominator if ``_Planar`` can render ``sizes``, else None.

    Only 4:2:0 YCbCr JPEGs, whose half-scale decode holds all the chroma the file has, and only
    where the half scale exists (1/8 at most) and is at least one pixel.
    """
    image = source.handle
    if source.format != "JPEG" or image.mode != "RGB" or not sizes:
        return None
    if JpegImagePlugin.get_sampling(image) != 2 or image.info.get("adobe_transform") == 0:
        return None
    largest = max(sizes, key=_area)
    factor = shrink_factor(image.size, stored(largest, source.orientation))
    return factor if factor <= 4 and min(image.size) >= 2 * factor else None


def _transform(icc: bytes | None) -> ImageCms.ImageCmsTransform | None:
    """The embedded RGB profile's transform to sRGB, built once for every rendition; None
    where there is none or lcms can't use it (the pixels are then taken as sRGB)."""
    profile = usable_profile(icc, 3)
    try:
        return profile and ImageCms.buildTransform(profile, _SRGB, "RGB", "RGB")
    except ImageCms.PyCMSError:
        return None


def _draft(data: bytes, mode: str, size: Size, factor: int) -> Image.Image:
    """The JPEG decoded in ``mode`` ("L": the luma alone; "YCbCr": no colour conversion) at
    1/``factor`` of ``size`` (DCT scaling)."""
    image = Image.open(io.BytesIO(data), formats=["JPEG"])
    # The whole file to libjpeg in one call, not Pillow's 64 KB at a time: the two decodes
    # that run side by side then hand the GIL back and forth once, not forty times a file
    # (the two decodes of the 12 MP photo: 35.4 against 37.1 ms, medians of 15).
    image.decodermaxblock = max(image.decodermaxblock, len(data))
    image.draft(mode, (size[0] // factor, size[1] // factor))
    image.load()
    return image


def _resize_luma(luma: Image.Image, size: Size, strips: bool) -> Image.Image:
    if strips and luma.size != size and size[0] * size[1] > _STRIP_PIXELS:
        return _resize_in_strips(luma, size)
    return _resize(luma, size)


def _resize(image: Image.Image, size: Size) -> Image.Image:
    return lanczos(image, size)


def _then(pool, function, *args) -> Future:
    """``function(*args)`` on ``pool``, each Future in ``args`` replaced by its result. A
    render submits each task after those it waits on, and the pool starts tasks in that order,
    so whatever a task waits on is running or done: no worker waits on a task not started."""

    def run():
        return function(*(arg.result() if isinstance(arg, Future) else arg for arg in args))

    return pool.submit(run)


def _full_chroma(work: tuple[dict, dict], size: Size) -> list[Image.Image]:
    """The Cb and Cr of a rendition of ``size`` (stored) at full size, scaled from the half
    decode the colour lane (``_colour_work``) left for it."""
    full = bilinear(work[0][size], size)
    return [full.getchannel(band) for band in ("Cb", "Cr")]


def _hand_over(work: tuple[dict, dict], on_output) -> dict:
    """The small renditions' outputs of ``_colour_work``, each given to ``on_output``."""
    if on_output is not None:
        for outputs in work[1].values():
            for output in outputs:
                on_output(output)
    return work[1]


def _mapped(future: Future, function) -> Future:
    """A Future of ``function(future.result())``, computed by whichever thread completes
    ``future``: no task of the pool waits for it."""
    mapped: Future = Future()

    def done(source: Future) -> None:
        try:
            mapped.set_result(function(source.result()))
        except BaseException as exc:
            mapped.set_exception(exc)

    future.add_done_callback(done)
    return mapped


def _halves_chroma(fmt: str, quality: int) -> bool:
    """Whether the encoder keeps the chroma at half size (4:2:0) for this format and quality."""
    return fmt == "JPEG" and _subsampling(quality) == 2


def _subsampling(quality: int) -> int:
    # 4:2:0 below q90, as libvips' default: the smaller file where the eye can't tell.
    return 0 if quality >= 90 else 2


def _fits(other: Size, size: Size, gap: float) -> bool:
    """Whether ``other`` is at least ``gap`` times ``size`` in both dimensions."""
    return other[0] >= gap * size[0] and other[1] >= gap * size[1]


def _scaled(size: Size, factor: int) -> Size:
    return (-(-size[0] // factor), -(-size[1] // factor))


def _area(size: Size) -> int:
    return size[0] * size[1]


def _orientation(image: Image.Image) -> int:
    """The EXIF orientation tag, 1 where it is missing, invalid or its EXIF block unreadable.

    Only the EXIF tag, as the probe, libvips and browsers read it: ``getexif()`` would also
    take XMP's ``tiff:Orientation`` (and decode a whole PNG looking for a late eXIf chunk).
    """
    orientation = exif_orientation(image.info.get("exif") or b"")
    return orientation if orientation in ORIENTATIONS else 1


def _cropped(image: Image.Image, plan: LibavifPlan, formats: Sequence[str]) -> Image.Image:
    """An AVIF cropped to its clean aperture (``clap``), which Pillow's AVIF plugin leaves
    undone (libheif, the vips engine, applies it). The crop is in the coded picture, before
    the orientation the plugin reports for ``irot``/``imir``: HEIF's order. This decodes."""
    if plan.crop is None or image.format != "AVIF" or image.size != plan.coded:
        return image  # nothing to crop, or a decoder that cropped already
    try:
        return image.crop(plan.crop)
    except Exception as exc:
        raise not_an_image(formats) from exc


def _normalize(image: Image.Image) -> tuple[Image.Image, bool]:
    """Bring any decoded mode to L, LA, RGB, RGBA or CMYK, dropping an alpha that is all 255."""
    if image.mode.startswith("I;16"):
        # Keep the high byte of each sample, as libvips does.
        raw = image.tobytes("raw", "I;16")
        image = Image.frombytes("L", image.size, raw, "raw", "L;16")
    elif image.mode == "1":
        image = image.convert("L")
    elif "transparency" in image.info or image.mode in ("P", "PA"):
        has_alpha = "transparency" in image.info or image.mode == "PA"
        image = image.convert(("LA" if image.mode == "L" else "RGBA") if has_alpha else "RGB")
    elif image.mode not in ("L", "LA", "RGB", "RGBA", "CMYK"):
        image = image.convert("RGBA" if "A" in image.mode else "RGB")
    if image.mode in ("RGBA", "LA"):
        if image.getchannel("A").getextrema()[0] == 255:
            return image.convert(image.mode[:-1]), False
        return image, True
    return image, False


def _to_srgb(image: Image.Image, icc: bytes | None) -> Image.Image:
    """Convert through the embedded ICC profile, else take RGB/L as sRGB and CMYK as plain."""
    profile = usable_profile(icc, len(image.mode.removesuffix("A")))  # CMYK keeps its 4
    if profile is None:
        return image.convert("RGB") if image.mode == "CMYK" else image
    alpha = image.getchannel("A") if image.mode in ("RGBA", "LA") else None
    colour = image.convert(image.mode[:-1]) if alpha else image  # lcms: colour bands only
    colour = ImageCms.profileToProfile(colour, profile, _SRGB, outputMode="RGB")
    if alpha is not None:
        colour.putalpha(alpha)
    return colour


def _resize_in_strips(image: Image.Image, size: Size) -> Image.Image:
    """One resize as two halves on two threads (Pillow releases the GIL while resampling).

    Pillow samples outside the ``box`` where the filter reaches, so the halves join without a
    seam: the pixels match a single resize to within one level.
    """
    width, height = size
    split = height // 2
    middle = image.height * split / height
    boxes = [(0, 0, image.width, middle), (0, middle, image.width, image.height)]
    heights = [split, height - split]
    with ThreadPoolExecutor(2) as pool:
        halves = list(
            pool.map(
                lambda box, rows: image.resize(
                    (width, rows), Image.Resampling.LANCZOS, box=box, reducing_gap=REDUCING_GAP
                ),
                boxes,
                heights,
            )
        )
    result = Image.new(image.mode, size)
    result.paste(halves[0], (0, 0))
    result.paste(halves[1], (0, split))
    return result


def _flatten(image: Image.Image) -> Image.Image:
    background = Image.new(image.mode[:-1], image.size, _WHITE[image.mode[:-1]])
    background.paste(image, mask=image.getchannel("A"))
    return background
