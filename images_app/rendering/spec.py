"""Rendition specs: ``"max-150x150|format-auto|quality-85"``, validated when parsed."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from .errors import SpecError

FORMATS = ("auto", "jpeg", "png", "webp")


@dataclass(frozen=True)
class RenditionSpec:
    """Fit inside ``width`` x ``height``, keep the aspect ratio, never upscale."""

    name: str
    width: int
    height: int
    format: str = "auto"  # auto: JPEG for opaque sources, PNG where there is transparency
    quality: int = 85

    @property
    def text(self) -> str:
        return f"max-{self.width}x{self.height}|format-{self.format}|quality-{self.quality}"

    @property
    def fingerprint(self) -> str:
        """Changes whenever the output of this spec would change."""
        return hashlib.sha256(f"v1:{self.text}".encode()).hexdigest()[:16]

    def target_size(self, width: int, height: int) -> tuple[int, int]:
        return fit_inside(width, height, self.width, self.height)


def fit_inside(width: int, height: int, box_width: int, box_height: int) -> tuple[int, int]:
    """The size of (width, height) scaled to fit the box: aspect kept, never upscaled, never 0."""
    scale = min(box_width / width, box_height / height, 1.0)
    if scale == 1.0:
        return width, height
    return max(1, round(width * scale)), max(1, round(height * scale))


def parse_spec(name: str, text: str) -> RenditionSpec:
    """Parse ``max-WxH`` with optional ``|format-F`` and ``|quality-Q`` parts."""
    parts = [part.strip() for part in str(text).split("|")]
    size, options = parts[0], parts[1:]
    if not size.startswith("max-") or size[4:].count("x") != 1:
        raise SpecError(
            f"{name!r}: {text!r} must start with 'max-WIDTHxHEIGHT', e.g. 'max-150x150'."
        )
    width, height = (_positive(name, value, "size") for value in size[4:].split("x"))
    kwargs: dict[str, object] = {}
    for option in options:
        key, _, value = option.partition("-")
        if key == "format" and value in FORMATS:
            kwargs["format"] = value
        elif key == "quality" and value.isdigit() and 1 <= int(value) <= 100:
            kwargs["quality"] = int(value)
        else:
            raise SpecError(
                f"{name!r}: unknown option {option!r} in {text!r}; use 'format-"
                f"{'|'.join(FORMATS)}' or 'quality-1..100'."
            )
    return RenditionSpec(name, width, height, **kwargs)


def _positive(name: str, value: str, what: str) -> int:
    if not value.isdigit() or not 0 < int(value) <= 16384:
        raise SpecError(f"{name!r}: {what} {value!r} must be a whole number from 1 to 16384.")
    return int(value)
