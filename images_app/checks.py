"""System checks with stable ids, run at start-up and by ``manage.py check``."""

from django.core.checks import Error, register
from django.core.exceptions import ImproperlyConfigured

from .conf import app_settings
from .specs import rendition_specs


@register()
def check_renditions(app_configs=None, **kwargs) -> list[Error]:
    """images_app.E001: a rendition spec that does not parse; E002: an alias to nowhere."""
    try:
        names = {spec.name for spec in rendition_specs()}
    except ImproperlyConfigured as exc:
        return [Error(str(exc), id="images_app.E001")]
    return [
        Error(
            f'IMAGES_APP["ALIASES"][{alias!r}] points to {target!r}, which is not a rendition.',
            hint=f"Use one of: {', '.join(sorted(names))}.",
            id="images_app.E002",
        )
        for alias, target in app_settings.ALIASES.items()
        if target not in names
    ]
