"""The rendering layer's exceptions: one for uploaders, one for configuration mistakes."""

from __future__ import annotations

from collections.abc import Sequence

from .formats import listed


class InvalidImage(ValueError):
    """The bytes are not an image we accept; ``str(exc)`` is a message for the uploader."""


class SpecError(ValueError):
    """A rendition spec string is malformed; ``str(exc)`` says what to change."""


def not_an_image(formats: Sequence[str]) -> InvalidImage:
    """The standard refusal for bytes that are not an image in one of ``formats``."""
    return InvalidImage(
        f"Upload a valid image: this file is not a {listed(formats)} image, or it is corrupted."
    )


class Malformed(ValueError):
    """A container or codec header is broken or lies about its own structure (internal:
    the probe turns it into an InvalidImage that names the format)."""


class Unsupported(ValueError):
    """A well-formed file of a kind we do not accept; ``str(exc)`` says so to the uploader."""
