"""Rendering: a pure function from (source bytes, rendition specs) to encoded outputs.

Nothing in this package imports Django, so it can be benchmarked, fuzzed and reused
from the API, the admin and management commands alike.

    info = inspect_image(data, formats=("JPEG", "PNG"), max_pixels=60_000_000, max_frames=1000)
    outputs = render(data, [parse_spec("thumb", "max-150x150")], formats=("JPEG", "PNG"))
"""

from . import runtime  # noqa: F401  process-wide settings, once: see its docstring
from .engines import Output, available_engines, render
from .errors import InvalidImage, SpecError
from .metadata import strip_metadata
from .probe import SourceInfo, inspect_image
from .spec import RenditionSpec, fit_inside, parse_spec

__all__ = [
    "InvalidImage",
    "Output",
    "RenditionSpec",
    "SourceInfo",
    "SpecError",
    "available_engines",
    "fit_inside",
    "inspect_image",
    "parse_spec",
    "render",
    "strip_metadata",
]
