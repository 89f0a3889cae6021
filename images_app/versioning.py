"""API versions from the ``X-Api-Version`` header."""

import contextlib

from rest_framework.versioning import BaseVersioning

from .conf import app_settings
from .exceptions import InvalidVersion


class XApiVersionHeaderVersioning(BaseVersioning):
    """
    The version is a decimal integer in a header; without the header, the latest.

    POST /api/images/ HTTP/1.1
    Authorization: Bearer <token>
    X-Api-Version: 7

    ``request.version`` is an int. Anything else (``abc``, ``0``, ``13``, ``7.5``) is a 406.
    """

    header = "HTTP_X_API_VERSION"

    def determine_version(self, request, *args, **kwargs) -> int:
        raw = request.META.get(self.header)
        if raw is None:
            return app_settings.DEFAULT_VERSION
        value = raw.strip()
        low, high = app_settings.MIN_VERSION, app_settings.MAX_VERSION
        # A length cap before int(): Python refuses to convert 4,301+ digits (a ValueError, once
        # a 500), and no version needs more than a few.
        if not (value.isascii() and value.isdigit() and len(value) <= 9):
            raise InvalidVersion(self.message(raw, low, high))
        if not low <= int(value) <= high:
            raise InvalidVersion(self.message(raw, low, high))
        return int(value)

    @staticmethod
    def message(raw: str, low: int, high: int) -> str:
        # WSGI hands header bytes over as Latin-1: a client's UTF-8 ("١٢") is shown as sent
        with contextlib.suppress(UnicodeError):
            raw = raw.encode("latin-1").decode("utf-8")
        shown = raw if len(raw) <= 20 else raw[:20] + "…"  # never echo a long header back
        return f"X-Api-Version must be a whole number from {low} to {high}; got {shown!r}."
