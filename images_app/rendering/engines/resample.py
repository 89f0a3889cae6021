"""LANCZOS3 for the planar path's planes, and the bilinear filter that scales its full-size
colour: fast_image_resize (cykooz-resizer) where it is installed, Pillow's own otherwise.

fast_image_resize convolves with the same LANCZOS3 kernel as Pillow (support widened with the
scale) in AVX2/SSE4.1/NEON code. Measured on one core of this machine, a 4000x3000 luma plane to
2048x1536: 13 ms against Pillow's 63 ms (and libvips' 40 ms for one band), 52 dB from Pillow's
pixels on the sharp test chart (docs/renderer.md). It reads and writes Pillow's own image
memory, releases the GIL, and runs on a rayon pool of its own (a pool made before a fork has
no threads in the child, so pools are per process). A one-thread resize takes a pool of one
thread that no other resize is using at that moment: the planar path runs several at once, one
per render thread, and one shared pool would run them one after another.
"""

from __future__ import annotations

import os
import threading

from PIL import Image

from .base import REDUCING_GAP, Size

try:
    from cykooz_resizer import FilterType, ResizeAlg, ResizeOptions, ResizerThreadPool
    from cykooz_resizer.rust_lib import PilImageWrapper, RustResizer
except ImportError:  # optional: Pillow resizes every plane without it
    RustResizer = None

FAST = RustResizer is not None
# Pillow keeps RGB and YCbCr in four bytes a pixel; fast_image_resize resizes all four (the
# fourth is padding: no alpha to weigh by).
_MODES = ("L", "RGB", "YCbCr")
# Where fast_image_resize is missing or the mode is not in _MODES: Pillow's own filters.
_PILLOW_FILTERS = {"lanczos3": Image.Resampling.LANCZOS, "bilinear": Image.Resampling.BILINEAR}
_options: dict[tuple, ResizeOptions] = {}  # (pid, filter, threads > 1) -> shared by all
_idle: dict[tuple, list[ResizeOptions]] = {}  # (pid, filter) -> one-thread pools not in use now
_lock = threading.Lock()


def lanczos(image: Image.Image, size: Size, threads: int = 1) -> Image.Image:
    """``image`` (L, RGB or YCbCr) resized to ``size`` with LANCZOS3, on up to ``threads``
    threads; ``image`` itself where it is that size already."""
    return _convolve(image, size, "lanczos3", threads)


def bilinear(image: Image.Image, size: Size) -> Image.Image:
    """``image`` (L, RGB or YCbCr) resized to ``size`` with Pillow's BILINEAR filter (a
    triangle, widened when it reduces), on one thread. The planar path's full-size colour:
    a 24 MP photo's half decode to its 2048x1365 rendition, Cb and Cr split out after, takes
    9 ms of CPU where Pillow's BILINEAR on each band took 24."""
    return _convolve(image, size, "bilinear", 1)


def _convolve(image: Image.Image, size: Size, name: str, threads: int) -> Image.Image:
    if image.size == size:
        return image
    if not FAST or image.mode not in _MODES:
        return image.resize(size, _PILLOW_FILTERS[name], reducing_gap=REDUCING_GAP)
    # Pillow's reducing_gap: a box reduction by a whole factor first, while the step after it
    # still reduces by REDUCING_GAP or more (its cost grows with the source's pixels).
    factor = int(min(image.width / size[0], image.height / size[1]) / REDUCING_GAP)
    if factor > 1:
        image = image.reduce(factor)
    resized = Image.new(image.mode, size, None)  # not filled first: the resize writes it all
    options = _take(name, threads)
    try:  # the Rust API under cykooz_resizer's Resizer.resize_pil, which turns YCbCr away
        source, target = PilImageWrapper(image), PilImageWrapper(resized)
        RustResizer().resize_pil(source, target, options.rust_options)
    finally:
        _give_back(options, name, threads)
    return resized


def _take(name: str, threads: int) -> ResizeOptions:
    """Options with a pool of ``threads``: shared above one, else one of its own for now."""
    pid = os.getpid()
    with _lock:
        if threads > 1:
            if (pid, name, threads) not in _options:
                _options[pid, name, threads] = _new_options(name, threads)
            return _options[pid, name, threads]
        idle = _idle.setdefault((pid, name), [])
        if idle:
            return idle.pop()
    return _new_options(name, 1)


def _give_back(options: ResizeOptions, name: str, threads: int) -> None:
    if threads <= 1:
        with _lock:
            _idle.setdefault((os.getpid(), name), []).append(options)


def _new_options(name: str, threads: int) -> ResizeOptions:
    algorithm = ResizeAlg.convolution(getattr(FilterType, name))
    pool = ResizerThreadPool(threads)
    return ResizeOptions(algorithm, use_alpha=False, thread_pool=pool)
