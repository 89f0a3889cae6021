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
stale, so running again finishes the job.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, wait
from dataclasses import dataclass, field

from django.core.files.storage import Storage
from django.db import transaction

from .conf import app_settings
from .models import Image
from .pipeline import describe, discard, queue_deletion
from .rendering import Output, RenditionSpec, render
from .specs import rendition_specs
from .storage import StorageFailure, executor, file_key, get_storage, write

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
        if (wanted is None or spec.name in wanted)
        and (stored.get(spec.name) or {}).get("fingerprint") != spec.fingerprint
    ]
    names = {spec.name for spec in specs}
    drop = [name for name in stored if name not in names and (wanted is None or name in wanted)]
    return Plan(redo, drop)


def rerender(image: Image, only: list[str] | None = None) -> list[str]:
    """Redo the stale renditions of ``image``, remove the ones that left the spec.

    Returns the names changed (redone, then removed); ``[]`` when all was up to date or the row
    is gone. ``only`` limits the work to those rendition names. Raises StorageFailure (storage
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
    outputs = _render(image, source, todo.redo) if todo.redo else []
    fingerprints = {spec.name: spec.fingerprint for spec in todo.redo}
    entries = {output.name: _describe(image, output, fingerprints) for output in outputs}
    old_keys = {entry["key"] for entry in image.renditions.values()}
    written = _write_all(storage, outputs, entries, old_keys)
    with transaction.atomic():
        row = Image.objects.select_for_update().filter(pk=image.pk).first()
        if row is None:  # deleted meanwhile: its files are queued already; ours go too
            discard(entry["key"] for entry in written.values())
            return []
        renditions = {**row.renditions, **written}
        for name in todo.drop:
            renditions.pop(name, None)
        kept = {entry["key"] for entry in renditions.values()}
        replaced = {entry["key"] for entry in row.renditions.values()} - kept
        Image.objects.filter(pk=row.pk).update(renditions=renditions)
        queue_deletion(sorted(replaced))  # deleted from storage once this commits
    image.renditions = renditions
    changed = [name for name in todo.names if name in written or name in todo.drop]
    logger.info(
        "images_app: image %s re-rendered: %s",
        image.pk,
        ", ".join(changed) or "nothing",
        extra={"event": "rerender", "id": image.pk, "renditions": changed},
    )
    if len(written) < len(outputs):
        raise StorageFailure(f"Some renditions of image {image.pk} could not be written.")
    return changed


def _read(storage: Storage, key: str) -> bytes:
    try:
        with storage.open(key, "rb") as handle:
            return handle.read()
    except Exception as exc:
        raise StorageFailure(f"Could not read the original {key}: {exc}") from exc


def _render(image: Image, source: bytes, specs: list[RenditionSpec]) -> list[Output]:
    # The original's own format is accepted even if FORMATS has dropped it since the upload.
    return render(source, specs, formats=[image.format], engine=app_settings.ENGINE)


def _describe(image: Image, output: Output, fingerprints: dict[str, str]) -> dict:
    key = file_key(image.key_prefix, output.name, output.extension)
    return describe(output, key, fingerprints[output.name])


def _write_all(
    storage: Storage, outputs: list[Output], entries: dict[str, dict], old_keys: set[str]
) -> dict[str, dict]:
    """Write every output; return the entries whose file is now in place.

    On an interruption, new keys are discarded; keys overwritten in place are left as they are
    (the row still calls them stale, so the next run redoes them).
    """
    pool = executor()
    futures: dict[str, Future] = {}
    try:
        for output in outputs:
            key = entries[output.name]["key"]
            futures[output.name] = pool.submit(
                overwrite, storage, key, output.data, output.content_type
            )
        wait(futures.values())
    except BaseException:
        wait(futures.values())
        discard(entries[name]["key"] for name in futures if entries[name]["key"] not in old_keys)
        raise
    failed = {name for name, future in futures.items() if future.exception() is not None}
    for name in failed:
        logger.warning("images_app: %s", futures[name].exception())
    discard(entries[name]["key"] for name in failed if entries[name]["key"] not in old_keys)
    return {name: entry for name, entry in entries.items() if name not in failed}


def overwrite(storage: Storage, key: str, data: bytes, content_type: str) -> None:
    """``write()`` at ``key``, replacing what is there.

    Storages that would choose another name for a taken key (the filesystem; S3 without
    ``file_overwrite``) get the old file deleted first; S3 with ``file_overwrite`` replaces the
    object in one PUT, so readers see the old file or the new one, never none.
    """
    try:
        if storage.get_available_name(key) != key:
            storage.delete(key)
    except Exception as exc:
        raise StorageFailure(f"Could not replace {key}: {exc}") from exc
    write(storage, key, data, content_type)
