"""API versions from the ``X-Api-Version`` header."""

from rest_framework.versioning import BaseVersioning

from .conf import app_settings
from .exceptions import InvalidVersion, clip


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
        # A few digits at most: int() of thousands of them is slow, and past 4300 refused.
        number = value.isascii() and value.isdigit() and len(value) <= 6
        if not (number and low <= int(value) <= high):
            raise InvalidVersion(
                f"X-Api-Version must be a whole number from {low} to {high}; got {clip(raw)!r}."
            )
        return int(value)
