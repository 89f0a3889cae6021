"""Retried uploads: the ``Idempotency-Key`` request header on ``POST /api/images/``.

    POST /api/images/ HTTP/1.1
    Authorization: Bearer <token>
    Idempotency-Key: 8e03978e-40d5-43e8-bc93-6894a57f9324

A mobile client that timed out does not know whether its upload was stored; with a key it can
simply send it again (the IETF httpapi draft, as Stripe and others do it):

- the same key from the same user within ``IDEMPOTENCY_SECONDS`` (24 h) answers with the first
  answer (same id, same URLs) and stores nothing again;
- the same key with a different request (version, fields or file bytes) is 422
  ``common.idempotency_mismatch``;
- the same key while the first request is still running is 409 ``common.idempotency_conflict``;
- without the header nothing changes.

How: before the upload runs, a row (user, key, fingerprint of the request) is inserted and
committed; the unique constraint on (user, key) lets exactly one request in, on PostgreSQL and
SQLite alike. The stored image is linked to the row in the transaction that inserts the image
(``on_image_stored``), and the answer is stored on the row when the upload ends; an upload that
fails with a 5xx or an exception deletes the row, so a retry can try again. A worker killed
after its image was committed leaves a row with the image but no answer: the retry answers with
that image, never a second one. A row still "running" with no image after ``STALE_SECONDS``
belonged to a worker killed before anything was kept, and is replaced. Expired rows are ignored, and
deleted by ``manage.py sweep_idempotency_keys`` (cron, e.g. hourly).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from contextvars import ContextVar
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.utils import timezone
from rest_framework.response import Response

from .conf import app_settings
from .exceptions import IdempotencyConflict, IdempotencyMismatch, ParseError

HEADER = "HTTP_IDEMPOTENCY_KEY"
MAX_KEY_LENGTH = 255
# A first request still running after this long died with its worker (gunicorn's timeout is
# 120 s): its key is free again.
STALE_SECONDS = 600
# The key row of the upload running in this thread, for ``on_image_stored``.
_running: ContextVar[IdempotencyKey | None] = ContextVar("images_app_idempotency", default=None)


class IdempotencyKey(models.Model):
    """One ``Idempotency-Key`` of one user: the request it was first used for, and the answer."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=MAX_KEY_LENGTH)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of the request.")
    status = models.PositiveSmallIntegerField(null=True, help_text="Empty while running.")
    response = models.JSONField(null=True)
    created = models.DateTimeField(default=timezone.now, db_index=True)
    # Set in the transaction that inserts the image: a first request whose worker died before
    # it answered is answered from here.
    image = models.ForeignKey(
        "images_app.Image", null=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["owner", "key"], name="images_app_idempotency_once")
        ]

    def __str__(self) -> str:
        return f"{self.owner_id}:{self.key}"


def idempotent(request, handler: Callable[[], Response], answer: Callable[..., Response]):
    """``handler()``'s answer, or the first request's with this key: its stored answer, or
    ``answer(image)`` for the image it stored before its worker died."""
    key = _key(request)
    if key is None:
        return handler()
    record, replay = _claim(request.user, key, fingerprint(request), answer)
    if replay is not None:
        return replay
    running = _running.set(record)
    try:
        response = handler()
    except BaseException:
        _free(record)  # nothing answered: a retry may run it again
        raise
    finally:
        _running.reset(running)
    if response.status_code >= 500:
        _free(record)
    else:
        record.status, record.response = response.status_code, response.data
        record.save(update_fields=["status", "response"])
    return response


def _key(request) -> str | None:
    raw = request.META.get(HEADER)
    if raw is None:
        return None
    key = raw.strip().removeprefix('"').removesuffix('"')  # the draft's sf-string, or bare
    if not key or len(key) > MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
        raise ParseError(
            f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable ASCII characters."
        )
    return key


def _free(record: IdempotencyKey) -> None:
    """Let a retry run again, unless an image was stored: then the retry is answered with it."""
    IdempotencyKey.objects.filter(pk=record.pk, image=None).delete()


def on_image_stored(sender, instance, created: bool, **kwargs) -> None:
    """post_save of Image, inside the image's INSERT transaction: link the running key to it."""
    record = _running.get()
    if created and record is not None:
        IdempotencyKey.objects.filter(pk=record.pk).update(image=instance)


def _claim(user, key: str, print_: str, answer) -> tuple[IdempotencyKey, Response | None]:
    """This request's row, or the first request's answer; 409/422 as the draft says."""
    for _ in range(3):  # a stale or expired row is removed, then claimed again
        try:
            with transaction.atomic():
                return IdempotencyKey.objects.create(owner=user, key=key, fingerprint=print_), None
        except IntegrityError:
            pass
        first = IdempotencyKey.objects.filter(owner=user, key=key).first()
        if first is None or _expired(first):
            IdempotencyKey.objects.filter(pk=getattr(first, "pk", None)).delete()
            continue
        if first.status is None and first.image_id is None:  # running, unless its worker died
            if timezone.now() - first.created < timedelta(seconds=STALE_SECONDS):
                raise IdempotencyConflict()
            IdempotencyKey.objects.filter(pk=first.pk, status=None).delete()
            continue
        if first.fingerprint != print_:
            raise IdempotencyMismatch()
        if first.status is None:  # its image is stored, but its worker died before answering
            return first, answer(first.image)
        return first, Response(first.response, status=first.status)
    raise IdempotencyConflict()


def _expired(record: IdempotencyKey) -> bool:
    return record.created < expiry()


def expiry():
    """Rows created before this are expired."""
    return timezone.now() - timedelta(seconds=app_settings.IDEMPOTENCY_SECONDS)


def fingerprint(request) -> str:
    """SHA-256 of what the upload depends on: the version, the fields and the files' bytes."""
    digest = hashlib.sha256(f"version={request.version}\n".encode())
    data = request.data
    for name in sorted(data):
        for value in data.getlist(name) if hasattr(data, "getlist") else [data[name]]:
            digest.update(f"{name}=".encode())
            if hasattr(value, "chunks"):
                digest.update(_file_digest(value))
            else:
                digest.update(str(value).encode())
            digest.update(b"\n")
    return digest.hexdigest()


def _file_digest(upload) -> bytes:
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)  # the upload itself reads it next
    return digest.digest()


def sweep() -> int:
    """Delete expired keys; the number deleted."""
    deleted, _ = IdempotencyKey.objects.filter(created__lt=expiry()).delete()
    return deleted
