"""The rendition set, as configured in IMAGES_APP["RENDITIONS"] and ["ALIASES"]."""

from django.core.exceptions import ImproperlyConfigured

from .conf import app_settings
from .rendering import RenditionSpec, SpecError, parse_spec

ORIGINAL = "original"


def rendition_specs() -> list[RenditionSpec]:
    """Every configured rendition, parsed; ImproperlyConfigured names the setting at fault."""
    try:
        return [parse_spec(name, text) for name, text in app_settings.RENDITIONS.items()]
    except SpecError as exc:
        raise ImproperlyConfigured(f'IMAGES_APP["RENDITIONS"] {exc}') from exc


def aliases() -> dict[str, str]:
    """Alias name -> rendition name."""
    return dict(app_settings.ALIASES)
