"""The envelope for errors that happen outside DRF's views on API paths (Django's 404 and 500)."""

from django.http import HttpRequest, HttpResponse

from .conf import app_settings
from .exceptions import error_response

_KEYS = {
    400: ("parse_error", "The request was malformed."),
    401: ("not_authenticated", "Authentication credentials were not provided."),
    403: ("permission_denied", "You do not have permission to perform this action."),
    404: ("not_found", "Not found."),
    405: ("method_not_allowed", "Method not allowed."),
    413: ("request_too_large", "The request body is larger than the server accepts."),
}


class ApiErrorEnvelopeMiddleware:
    """On API paths, a non-JSON error answer (Django's HTML, DEBUG or not) becomes the envelope.

    Django turns every exception into a response before it reaches a middleware, so looking at
    the response is enough. Put it first in MIDDLEWARE to cover the other middleware too.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code < 400 or _is_json(response) or not _is_api(request):
            return response
        status = response.status_code if response.status_code < 500 else 500
        key, description = _KEYS.get(status, ("server_error", "Internal server error."))
        return error_response(status, key, description)


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith(tuple(app_settings.API_PATH_PREFIXES))


def _is_json(response: HttpResponse) -> bool:
    return response.get("Content-Type", "").startswith("application/json")
