"""System checks with stable ids, run at start-up and by ``manage.py check``."""

from django.core.checks import Error, Tags, register
from django.core.checks import Warning as CheckWarning
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError
from django.db.models import Max, Min

from .conf import app_settings
from .models import Image
from .specs import rendition_specs

# W001 reads at most SAMPLE_POINTS + 1 runs of SAMPLE_ROWS rows, each an index range scan.
SAMPLE_POINTS = 20
SAMPLE_ROWS = 10


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


@register(Tags.database)
def check_stale_renditions(app_configs=None, databases=None, **kwargs) -> list[CheckWarning]:
    """images_app.W001: stored renditions made with another spec than the current settings.

    A database check, as Django runs them: on ``manage.py migrate`` (so at every deploy) and on
    ``manage.py check --database default``. It looks at a bounded sample, not the whole table:
    up to 21 runs of 10 rows spread evenly over the id range (the oldest, the newest and the
    ones between), so it costs the same on a thousand images as on a hundred million, and it
    sees any stale stretch that covers more than a twentieth of the ids.
    """
    try:
        current = {spec.name: spec.fingerprint for spec in rendition_specs()}
    except ImproperlyConfigured:
        return []  # E001 says what is wrong
    for alias in databases or ():
        try:
            sample = _sample(alias)
        except DatabaseError:
            continue  # not migrated yet, or not reachable: nothing to say about renditions
        stale = [renditions for renditions in sample if _stale_names(renditions, current)]
        if stale:
            names = sorted(set().union(*(_stale_names(r, current) for r in stale)))
            return [
                CheckWarning(
                    f"{len(stale)} of {len(sample)} sampled images have renditions that do not "
                    f'match IMAGES_APP["RENDITIONS"] ({", ".join(names)}).',
                    hint="Run `python manage.py rerender_images` (with --dry-run first to see "
                    "what it would change); it is safe while the service runs.",
                    id="images_app.W001",
                )
            ]
    return []


def _sample(alias: str) -> list[dict]:
    rows = Image.objects.using(alias)
    bounds = rows.aggregate(low=Min("pk"), high=Max("pk"))
    if bounds["low"] is None:
        return []
    step = max((bounds["high"] - bounds["low"]) / SAMPLE_POINTS, 1)
    starts = sorted({int(bounds["low"] + i * step) for i in range(SAMPLE_POINTS + 1)})
    sample: dict[int, dict] = {}
    for start in starts:
        run = rows.filter(pk__gte=start).order_by("pk").values_list("pk", "renditions")
        sample.update(run[:SAMPLE_ROWS])
    return list(sample.values())


def _stale_names(renditions: dict, current: dict[str, str]) -> set[str]:
    """Names whose stored fingerprint differs from the spec's, is missing, or left the spec."""
    stale = {name for name in renditions if name not in current}
    return stale | {
        name
        for name, fingerprint in current.items()
        if getattr(renditions.get(name), "fingerprint", None) != fingerprint
    }


@register()
def check_upload_safety(app_configs=None, **kwargs) -> list[Error]:
    """images_app.E003: a format whose metadata cannot be reduced to the allow-list; E004:
    Pillow set to load truncated images (a host project can flip that global)."""
    from PIL import ImageFile

    from .rendering.metadata import STRIP_FORMATS

    errors = [
        Error(
            f'IMAGES_APP["FORMATS"] lists {fmt!r}, whose metadata images_app cannot '
            "reduce to the allow-list; originals in it would be refused with a server error.",
            hint=f"Use formats from: {', '.join(sorted(STRIP_FORMATS))}.",
            id="images_app.E003",
        )
        for fmt in app_settings.FORMATS
        if fmt not in STRIP_FORMATS
    ]
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        errors.append(
            Error(
                "PIL.ImageFile.LOAD_TRUNCATED_IMAGES is True: truncated uploads would be accepted.",
                hint="Do not set it in a project that serves images_app.",
                id="images_app.E004",
            )
        )
    return errors


@register()
def check_engine(app_configs=None, **kwargs) -> list[Error]:
    """images_app.E005: an ENGINE setting that names no engine, or a class that won't import."""
    from .rendering.engines import ENGINES, get_engine

    try:
        get_engine(app_settings.ENGINE)
    except (ValueError, IndexError) as exc:  # IndexError: "auto" with no engine importing
        return [
            Error(
                f'IMAGES_APP["ENGINE"] = {app_settings.ENGINE!r}: {exc}',
                hint=f'Use "auto", one of {sorted(ENGINES)}, or a BaseEngine subclass\'s path.',
                id="images_app.E005",
            )
        ]
    return []
