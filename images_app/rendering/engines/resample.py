"""LANCZOS3 for the planar path's planes: fast_image_resize (cykooz-resizer) where it is
installed, Pillow's own otherwise.

fast_image_resize convolves with the same LANCZOS3 kernel as Pillow (support widened with the
scale) in AVX2/SSE4.1/NEON code. Measured on one core of this machine, a 4000x3000 luma plane to
2048x1536: 13 ms against Pillow's 63 ms (and libvips' 40 ms for one band), 52 dB from Pillow's
pixels on the sharp test chart (docs/renderer.md). It resizes Pillow images in place of memory,
releases the GIL, and runs on a rayon pool of its own: one pool per thread count and process
(a pool made before a fork has no threads in the child).
"""

from __future__ import annotations

import os
import threading

from PIL import Image

from .base import REDUCING_GAP, Size

try:
    from cykooz_resizer import FilterType, ResizeAlg, ResizeOptions, Resizer, ResizerThreadPool
except ImportError:  # optional: Pillow resizes every plane without it
    Resizer = None

FAST = Resizer is not None
_options: dict[tuple[int, int], ResizeOptions] = {}
_lock = threading.Lock()


def lanczos(image: Image.Image, size: Size, threads: int = 1) -> Image.Image:
    """``image`` (L, RGB or YCbCr) resized to ``size`` with LANCZOS3, on up to ``threads``
    threads; ``image`` itself where it is that size already."""
    if image.size == size:
        return image
    if not FAST or image.mode not in ("L", "RGB", "YCbCr"):
        return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=REDUCING_GAP)
    if image.mode == "YCbCr":  # three planes: fast_image_resize takes no YCbCr image
        return Image.merge("YCbCr", [lanczos(band, size, threads) for band in image.split()])
    # Pillow's reducing_gap: a box reduction by a whole factor first, while the LANCZOS step
    # after it still reduces by REDUCING_GAP or more (its cost grows with the source's pixels).
    factor = int(min(image.width / size[0], image.height / size[1]) / REDUCING_GAP)
    if factor > 1:
        image = image.reduce(factor)
    resized = Image.new(image.mode, size)
    Resizer().resize_pil(image, resized, _options_for(threads))
    return resized


def _options_for(threads: int) -> ResizeOptions:
    key = (os.getpid(), max(1, threads))
    with _lock:
        if key not in _options:
            algorithm = ResizeAlg.convolution(FilterType.lanczos3)
            _options[key] = ResizeOptions(algorithm, thread_pool=ResizerThreadPool(key[1]))
        return _options[key]
