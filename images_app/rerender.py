"""Bring an image's renditions up to date with IMAGES_APP["RENDITIONS"].

Each stored rendition carries the fingerprint of the spec that made it. A rendition is stale when
its fingerprint differs from the current spec's (or it is missing); it is gone when its name left
the spec. ``rerender()`` redoes the stale ones from the stored original and removes the gone ones.

Keys. A redone rendition keeps its key (``<prefix>/<name>.<ext>``) and is overwritten in place:
legacy clients store the URLs the upload answered, so a spec change must not break them. The
price is that a CDN or browser may serve the old file until its cache expires; invalidate
``/<KEY_PREFIX>/*`` on the CDN after a run where that matters. Only a change of format (so of
extension) gives a new key; the old file is then deleted after commit, as are the files of
renditions that left the spec.

Safety. The row is updated under ``select_for_update`` in a short transaction, merged with what
the row holds then (not with what was read before rendering), so uploads, reads, deletes and other
runs can go on meanwhile; a row deleted mid-way is left deleted and the new files discarded. An
interruption at any point leaves either the old state or files whose fingerprint still says
stale, so running again finishes the job. Files are written through ``pipeline.write_all``, the
upload's own all-or-nothing writer: when one write fails, the new keys written are deleted again
and only the renditions written over their old key (which cannot be taken back) are recorded.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from django.core.files.storage import Storage
from django.db import transaction

from .conf import app_settings
from .deletion import delete_files, delete_files_on_commit
from .fields import Rendition
from .models import Image
from .pipeline import WriteFailed, write_all
from .rendering import Output, RenditionSpec, render
from .specs import rendition_specs
from .storage import StorageFailure, file_key, get_storage

logger = logging.getLogger(__name__)


@dataclass
class Plan:
    """What ``rerender()`` would do to one image."""

    redo: list[RenditionSpec] = field(default_factory=list)  # stale or missing
    drop: list[str] = field(default_factory=list)  # stored, but no longer in the spec

    @property
    def names(self) -> list[str]:
        return [spec.name for spec in self.redo] + self.drop

    def __bool__(self) -> bool:
        return bool(self.redo or self.drop)


def plan(image: Image, only: list[str] | None = None) -> Plan:
    """The renditions of ``image`` that are stale, missing or gone; ``only`` limits the names."""
    specs = rendition_specs()
    wanted = set(only) if only is not None else None
    stored = image.renditions or {}
    redo = [
        spec
        for spec in specs
        if (wanted is None or spec.name in wanted) and not _current(stored.get(spec.name), spec)
    ]
    names = {spec.name for spec in specs}
    drop = [name for name in stored if name not in names and (wanted is None or name in wanted)]
    return Plan(redo, drop)


def _current(stored: Rendition | None, spec: RenditionSpec) -> bool:
    return stored is not None and stored.fingerprint == spec.fingerprint


def rerender(
    image: Image, only: list[str] | None = None, *, threads: int | None = None
) -> list[str]:
    """Redo the stale renditions of ``image``, remove the ones that left the spec.

    Returns the names changed (redone, then removed); ``[]`` when all was up to date or the row
    is gone. ``only`` limits the work to those rendition names; ``threads``, the render's encode
    threads (``IMAGES_APP["RENDER_THREADS"]`` if None; Celery tasks pass
    ``WORKER_RENDER_THREADS``). Raises StorageFailure (storage
    down: nothing half-done is claimed by the row) or InvalidImage (the original no longer
    decodes). ``image.renditions`` is updated to what the row now holds.
    """
    todo = plan(image, only)
    if not todo:
        return []
    storage = get_storage()
    try:
        source = _read(storage, image.original_key) if todo.redo else b""
    except StorageFailure:
        if not Image.objects.filter(pk=image.pk).exists():
            return []  # deleted since it was read, files and all
        raise
    outputs = _render(image, source, todo.redo, threads) if todo.redo else []
    fingerprints = {spec.name: spec.fingerprint for spec in todo.redo}
    entries = {output.name: _describe(image, output, fingerprints) for output in outputs}
    written, failure = _write(storage, outputs, entries, image)
    renditions = _claim(image, written, todo.drop)
    if renditions is None:
        return []
    image.renditions = renditions
    changed = [name for name in todo.names if name in written or name in todo.drop]
    logger.info(
        "images_app: image %s re-rendered: %s",
        image.pk,
        ", ".join(changed) or "nothing",
        extra={"event": "rerender", "id": image.pk, "renditions": changed},
    )
    if failure is not None:
        raise StorageFailure(f"Some renditions of image {image.pk} could not be written.")
    return changed


def _claim(image: Image, written: dict[str, Rendition], drop: list[str]):
    """Record ``written`` on the row, merged with what it holds now; None if it is gone."""
    with transaction.atomic():
        row = Image.objects.select_for_update().filter(pk=image.pk).first()
        if row is None:  # deleted meanwhile: its files are queued already; ours go too
            delete_files(entry.key for entry in written.values())
            return None
        renditions = {**row.renditions, **written}
        for name in drop:
            renditions.pop(name, None)
        kept = {entry.key for entry in renditions.values()}
        replaced = {entry.key for entry in row.renditions.values()} - kept
        Image.objects.filter(pk=row.pk).update(renditions=renditions)
        delete_files_on_commit(sorted(replaced))
    return renditions


def _read(storage: Storage, key: str) -> bytes:
    try:
        with storage.open(key, "rb") as handle:
            return handle.read()
    except Exception as exc:
        raise StorageFailure(f"Could not read the original {key}: {exc}") from exc


def _render(image: Image, source: bytes, specs: list[RenditionSpec], threads) -> list[Output]:
    # The original's own format is accepted even if FORMATS has dropped it since the upload.
    threads = app_settings.RENDER_THREADS if threads is None else threads
    return render(
        source, specs, formats=[image.format], engine=app_settings.ENGINE, threads=threads
    )


def _describe(image: Image, output: Output, fingerprints: dict[str, str]) -> Rendition:
    key = file_key(image.key_prefix, output.name, output.extension)
    return Rendition.of(output, key, fingerprints[output.name])


def _write(
    storage: Storage, outputs: list[Output], entries: dict[str, Rendition], image: Image
) -> tuple[dict[str, Rendition], WriteFailed | None]:
    """Write every output over what is at its key; return the entries now in place.

    All or nothing, except for files written over the row's own keys: those cannot be taken
    back, so they are returned for the row to claim even when another write failed.
    """
    old_keys = {entry.key for entry in image.renditions.values()}
    try:
        with write_all(storage, overwrite=True, referenced=old_keys) as put:
            for output in outputs:
                put(entries[output.name].key, output.data, output.content_type)
    except WriteFailed as exc:
        logger.warning("images_app: %s", exc)
        return {name: entry for name, entry in entries.items() if entry.key in exc.kept}, exc
    return entries, None
