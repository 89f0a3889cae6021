"""Upload throttling per user; the rate is IMAGES_APP["UPLOAD_RATE"].

DRF's ``SimpleRateThrottle`` reads a list of timestamps, appends and writes it back: two
requests of one user on two connections both read the same list, and both get in. Here the
count is one cache counter per user and window, raised with the cache's atomic ``add`` and
``incr`` (Redis ``SET NX`` and ``INCR`` where REDIS_URL is set), so N uploads at once get exactly
the rate through, whatever the number of connections or processes.

The window is fixed (``120/min`` means at most 120 in each clock minute), and ``Retry-After``
says when the current one ends.
"""

from __future__ import annotations

import math

from rest_framework.throttling import UserRateThrottle

from .conf import app_settings


class UploadRateThrottle(UserRateThrottle):
    """Counts POSTs only; reads and deletes are not throttled."""

    scope = "images_app_upload"

    def get_rate(self) -> str | None:
        return app_settings.UPLOAD_RATE

    def allow_request(self, request, view) -> bool:
        if request.method != "POST" or self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        self.now = self.timer()
        window = math.floor(self.now / self.duration)
        self.window_end = (window + 1) * self.duration
        return self.count(f"{self.key}:{window}") <= self.num_requests

    def count(self, key: str) -> int:
        """This request's number in the window: one atomic increment of a shared counter."""
        timeout = self.duration + 1  # the key outlives its window, never the other way round
        self.cache.add(key, 0, timeout)
        try:
            return self.cache.incr(key)
        except ValueError:  # expired between add and incr: this request starts a new count
            self.cache.add(key, 0, timeout)
            return self.cache.incr(key)

    def wait(self) -> float:
        return max(self.window_end - self.now, 1)
