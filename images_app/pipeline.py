"""From upload bytes to stored files: inspect, render, write, all or nothing."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from concurrent.futures import Future, wait

from django.db import transaction

from .conf import app_settings
from .logging import phase
from .rendering import Output, SourceInfo, inspect_image, render, strip_metadata
from .specs import ORIGINAL, rendition_specs
from .storage import (
    StorageFailure,
    delete,
    executor,
    file_key,
    get_storage,
    new_key_prefix,
    write,
)

logger = logging.getLogger(__name__)


def inspect(data: bytes) -> SourceInfo:
    """The upload's format and size from its header; raises InvalidImage if it is refused."""
    return inspect_image(
        data,
        formats=app_settings.FORMATS,
        max_pixels=app_settings.MAX_PIXELS,
        max_frames=app_settings.MAX_FRAMES,
    )


def size_error(size: int) -> str | None:
    """The refusal for a file of ``size`` bytes over IMAGES_APP["MAX_BYTES"], else None."""
    limit = app_settings.MAX_BYTES
    if size <= limit:
        return None
    shown, cap = human_size(size), human_size(limit)
    if shown == cap:  # "File is 20 MiB; the limit is 20 MiB" would say nothing
        shown, cap = f"{size:,} bytes", f"{limit:,} bytes"
    return f"File is {shown}; the limit is {cap}."


def human_size(size: int) -> str:
    """``20 MiB``, ``48.8 KiB``, ``512 bytes``."""
    for unit, scale in (("MiB", 1024 * 1024), ("KiB", 1024)):
        if size >= scale:
            return f"{size / scale:.1f}".removesuffix(".0") + f" {unit}"
    return f"{size} bytes"


def store(image, data: bytes) -> None:
    """Render ``data`` and write every file of ``image``; on failure nothing stays stored.

    Sets the image's file fields. Raises InvalidImage (bad upload) or StorageFailure.
    """
    info = inspect(data)
    prefix = new_key_prefix(image.owner_id, image.get_type_display())
    original = strip_metadata(data, info.format)
    renditions = _render_and_write(data, prefix, original, info)
    image.key_prefix = prefix
    image.original_key = file_key(prefix, ORIGINAL, info.extension)
    image.format, image.width, image.height = info.format, info.width, info.height
    image.bytes, image.checksum = len(original), hashlib.sha256(original).hexdigest()
    image.renditions = renditions


def _render_and_write(data: bytes, prefix: str, original: bytes, info: SourceInfo):
    storage = get_storage()
    specs = {spec.name: spec for spec in rendition_specs()}
    keys = {ORIGINAL: file_key(prefix, ORIGINAL, info.extension)}
    writes: dict[str, Future] = {}
    pool = executor()
    writes[ORIGINAL] = pool.submit(write, storage, keys[ORIGINAL], original, info.content_type)

    def on_output(output: Output) -> None:
        keys[output.name] = file_key(prefix, output.name, output.extension)
        writes[output.name] = pool.submit(
            write, storage, keys[output.name], output.data, output.content_type
        )

    try:
        with phase("render"):
            outputs = render(
                data,
                list(specs.values()),
                formats=app_settings.FORMATS,
                engine=app_settings.ENGINE,
                on_output=on_output,
            )
    except BaseException:
        wait(writes.values())
        discard([keys[name] for name, future in writes.items() if not future.exception()])
        raise
    with phase("store"):  # what is left of the writes once the last rendition is encoded
        wait(writes.values())
    failures = [future.exception() for future in writes.values() if future.exception()]
    if failures:
        discard([keys[name] for name, future in writes.items() if not future.exception()])
        raise (
            failures[0]
            if isinstance(failures[0], StorageFailure)
            else StorageFailure(str(failures[0]))
        )
    return {
        output.name: describe(output, keys[output.name], specs[output.name].fingerprint)
        for output in outputs
    }


def describe(output: Output, key: str, fingerprint: str) -> dict:
    """A rendition as ``Image.renditions`` records it."""
    return {
        "key": key,
        "width": output.width,
        "height": output.height,
        "format": output.format,
        "bytes": len(output.data),
        "fingerprint": fingerprint,
    }


def discard(keys: Iterable[str]) -> None:
    """Delete files that no row will reference; queue the ones storage would not delete."""
    failed = delete(get_storage(), keys)
    if failed:
        queue_deletion(failed, purge=False)


def queue_deletion(keys: Iterable[str], *, purge: bool = True) -> None:
    """Record ``keys`` for deletion now, and delete them from storage once the transaction commits.

    The queue outlives a storage outage: ``manage.py sweep_storage`` finishes what is left.
    """
    from .models import PendingDeletion

    keys = list(keys)
    PendingDeletion.objects.bulk_create(
        [PendingDeletion(key=key) for key in keys], ignore_conflicts=True
    )
    if purge:
        transaction.on_commit(lambda: purge_pending(keys), robust=True)


def purge_pending(keys: Iterable[str]) -> list[str]:
    """Delete queued keys from storage and from the queue; return the ones still queued."""
    from .models import PendingDeletion

    keys = list(keys)
    failed = delete(get_storage(), keys)
    done = [key for key in keys if key not in set(failed)]
    PendingDeletion.objects.filter(key__in=done).delete()
    if failed:
        logger.warning("images_app: %d file(s) left queued for sweep_storage", len(failed))
    return failed
