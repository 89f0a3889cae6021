"""The envelope for errors that happen outside DRF's views on API paths (Django's 404 and 500)."""

from django.http import HttpRequest, HttpResponse

from .conf import app_settings
from .exceptions import for_status


class ApiErrorEnvelopeMiddleware:
    """On API paths, a non-JSON error answer (Django's HTML, DEBUG or not) becomes the envelope.

    Django turns every exception into a response before it reaches a middleware, so looking at
    the response is enough. The key and description are the catalogue's for the status
    (``exceptions.for_status``). Put it first in MIDDLEWARE to cover the other middleware too.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code < 400 or _is_json(response) or not _is_api(request):
            return response
        entry = for_status(response.status_code)
        status = response.status_code if response.status_code < 500 else entry.status_code
        return entry.response(status_code=status)


def _is_api(request: HttpRequest) -> bool:
    path = "/" + request.path.lstrip("/")  # "//api/images/" (a client joining URLs) is one too
    return path.startswith(tuple(app_settings.API_PATH_PREFIXES))


def _is_json(response: HttpResponse) -> bool:
    return response.get("Content-Type", "").startswith("application/json")
