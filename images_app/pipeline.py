"""The upload path: from an upload's bytes to its stored files, all or nothing.

Follow an upload by searching for these names, top to bottom (Wagtail's ``get_rendition`` →
``create_rendition`` → ``generate_rendition_file`` reads the same way)::

    Image.objects.create_from_upload(owner=, type=, data=)   models.py: a new Image
      Image.save(source=data)                                 models.py: files first, then the row
        store_upload(data, key_prefix)                        here: inspect, strip, render
          render(..., on_output=put)                          rendering/: one Output per rendition
          write_all(storage)                                  here: parallel writes, all or none
            write(storage, key, data, content_type)           storage.py
        delete_files(keys)   (only if the INSERT fails)       deletion.py

Nothing here knows the model: ``store_upload`` returns a ``StoredUpload`` that ``Image.save``
copies onto the row. ``rerender.py`` writes its files through the same ``write_all``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Iterator
from concurrent.futures import Future, wait
from contextlib import contextmanager
from dataclasses import dataclass

from django.core.files.storage import Storage

from .conf import app_settings
from .deletion import delete_files
from .fields import Rendition
from .logging import phase
from .rendering import Output, SourceInfo, inspect_image, render, strip_metadata
from .specs import ORIGINAL, rendition_specs
from .storage import StorageFailure, executor, file_key, get_storage, write

Put = Callable[..., None]  # put(key, data, content_type, sha256=None): write_all's


class WriteFailed(StorageFailure):
    """Some writes of ``write_all`` failed. ``kept`` lists the files written over a referenced key:
    those cannot be taken back, so the caller should record them."""

    def __init__(self, message: str, kept: Collection[str] = ()):
        super().__init__(message)
        self.kept = set(kept)


@dataclass(frozen=True)
class StoredUpload:
    """What ``store_upload`` wrote: the fields of the Image row that will own the files."""

    key_prefix: str
    original_key: str
    format: str
    width: int
    height: int
    bytes: int
    checksum: str
    renditions: dict[str, Rendition]


def inspect(data: bytes) -> SourceInfo:
    """The upload's format and size from its header; raises InvalidImage if it is refused."""
    return inspect_image(
        data,
        formats=app_settings.FORMATS,
        max_pixels=app_settings.MAX_PIXELS,
        max_frames=app_settings.MAX_FRAMES,
        max_decode_bytes=app_settings.MAX_DECODE_BYTES,
        max_pixels_per_byte=app_settings.MAX_PIXELS_PER_BYTE,
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


def store_upload(data: bytes, key_prefix: str) -> StoredUpload:
    """Render ``data`` and write the original and every rendition below ``key_prefix``.

    Each file is written as soon as it is encoded, while the next one renders. Raises
    InvalidImage (a bad upload) or StorageFailure; either way nothing stays stored.
    """
    info = inspect(data)
    original_key = file_key(key_prefix, ORIGINAL, info.extension)
    specs = {spec.name: spec for spec in rendition_specs()}
    keys: dict[str, str] = {}
    with write_all(get_storage()) as put:
        # The original's metadata strip (a walk of the whole file) and its checksum, 3 ms of a
        # 12 MP JPEG, run beside the render on a writer thread, which then writes it.
        original = executor().submit(_store_original, put, data, info, original_key)

        def on_output(output: Output) -> None:
            keys[output.name] = file_key(key_prefix, output.name, output.extension)
            put(keys[output.name], output.data, output.content_type)

        try:
            with phase("render"):
                outputs = render(
                    data,
                    list(specs.values()),
                    formats=app_settings.FORMATS,
                    engine=app_settings.ENGINE,
                    on_output=on_output,
                    threads=app_settings.RENDER_THREADS,
                )
        finally:
            wait([original])  # it may still put: the block ends (and cleans up) after it
        stripped, checksum = original.result()  # a refusal of its metadata raises here
    renditions = {
        output.name: Rendition.of(output, keys[output.name], specs[output.name].fingerprint)
        for output in outputs
    }
    return StoredUpload(
        key_prefix=key_prefix,
        original_key=original_key,
        format=info.format,
        width=info.width,
        height=info.height,
        bytes=len(stripped),
        checksum=checksum,
        renditions=renditions,
    )


def _store_original(put: Put, data: bytes, info: SourceInfo, key: str) -> tuple[bytes, str]:
    """The upload with its metadata reduced to the allow-list, handed to ``put`` with its
    sha256 (which a storage that verifies checksums checks the bytes against); and that sha256."""
    original = strip_metadata(data, info.format)
    digest = hashlib.sha256(original).digest()
    put(key, original, info.content_type, sha256=digest)
    return original, digest.hex()


@contextmanager
def write_all(
    storage: Storage, *, overwrite: bool = False, referenced: Collection[str] = ()
) -> Iterator[Put]:
    """Write files in parallel as the block hands them to ``put(key, data, content_type)``
    (and ``sha256=``, the digest of ``data``, where the caller has it: ``storage.write``).

    Each write starts at once on the process's writer pool. Leaving the block waits for all of
    them. All or nothing: if a write failed or the block raised, the files written are deleted
    again and the error propagates (a failed write as ``WriteFailed``). ``overwrite`` lets a
    write replace a file already at its key; keys in ``referenced`` (files a row points to now)
    are never deleted, and a ``WriteFailed`` lists the ones written over in ``kept``.
    """
    futures: dict[str, Future] = {}
    pool = executor()

    def put(key: str, data: bytes, content_type: str, sha256: bytes | None = None) -> None:
        futures[key] = pool.submit(
            write, storage, key, data, content_type, replace=overwrite, sha256=sha256
        )

    try:
        yield put
        with phase("store"):  # what is left of the writes once the block (rendering) is done
            wait(futures.values())
    except BaseException:
        wait(futures.values())
        delete_files(key for key in _succeeded(futures) if key not in referenced)
        raise
    failures = [future.exception() for future in futures.values() if future.exception()]
    if failures:
        written = _succeeded(futures)
        delete_files(key for key in written if key not in referenced)
        kept = [key for key in written if key in referenced]
        raise WriteFailed(str(failures[0]), kept=kept) from failures[0]


def _succeeded(futures: dict[str, Future]) -> list[str]:
    return [key for key, future in futures.items() if future.exception() is None]
