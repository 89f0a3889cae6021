"""Upload throttling per user; the rate is IMAGES_APP["UPLOAD_RATE"]."""

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
        return super().allow_request(request, view)
