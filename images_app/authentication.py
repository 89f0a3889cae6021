"""Bearer tokens from django-oauth-toolkit, checked before the request body is read.

    POST /api/images/ HTTP/1.1
    Authorization: Bearer <token from issue_token or from /o/token/>

Who a token acts for:

- a token issued for a user (``issue_token``, the authorization-code flow) acts as that user;
- a client-credentials token from ``/o/token/`` has no user of its own: it acts as the user who
  owns its application, and one whose application has no user either is a 403 that says so
  (images belong to a user; there is nobody to own them);
- a deactivated user (``is_active = False``) is a 401 at once, whichever way the token came.

A missing token, an unknown one and an expired one are each a 401 that says which.
"""

from __future__ import annotations

from oauth2_provider.contrib.rest_framework import OAuth2Authentication, TokenHasScope
from oauth2_provider.oauth2_backends import OAuthLibCore
from oauth2_provider.settings import oauth2_settings
from rest_framework.exceptions import AuthenticationFailed

from .exceptions import NotAuthenticated, PermissionDenied

NO_TOKEN = "No bearer token: send the header `Authorization: Bearer <token>`."
NO_USER = (
    "This token belongs to no user: it was issued by client credentials to an OAuth2 "
    "application that has no user, and images belong to a user. Give the application a user "
    "(admin, OAuth2 applications) and get a new token, or use `manage.py issue_token`."
)
INACTIVE = "This token's user is deactivated; ask an administrator to reactivate the account."


class _HeaderOnlyCore(OAuthLibCore):
    """A resource server reads the token from the Authorization header only.

    django-oauth-toolkit's core reads ``request.POST`` to look for a token in the body, which
    would parse (and buffer) a whole multipart upload before the client is known.
    """

    def extract_body(self, request):
        return []


class BearerTokenAuthentication(OAuth2Authentication):
    """OAuth2Authentication that answers 401 without parsing the body, and says why."""

    def authenticate(self, request):
        if not _bearer_token(request):
            request.oauth2_error = {}
            raise NotAuthenticated(NO_TOKEN)
        server = oauth2_settings.OAUTH2_SERVER_CLASS(oauth2_settings.OAUTH2_VALIDATOR_CLASS())
        valid, oauth_request = _HeaderOnlyCore(server).verify_request(request, scopes=[])
        if not valid:
            request.oauth2_error = getattr(oauth_request, "oauth2_error", {})
            raise AuthenticationFailed(_invalid_message(request.oauth2_error))
        token = oauth_request.access_token
        return acting_user(request, token), token


def acting_user(request, token):
    """The token's user, else its application's; refused when inactive or when there is none."""
    user = token.user or (token.application.user if token.application else None)
    if user is None:
        raise PermissionDenied(NO_USER)
    if not user.is_active:
        request.oauth2_error = {"error": "invalid_token", "error_description": INACTIVE}
        raise AuthenticationFailed(INACTIVE)
    return user


def _bearer_token(request) -> str:
    scheme, _, token = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _invalid_message(oauth2_error: dict) -> str:
    said = oauth2_error.get("error_description") or "The access token is invalid."
    return f"{said} Tokens are invalid when unknown, expired or revoked: get a new one."


class TokenHasImagesScope(TokenHasScope):
    """django-oauth-toolkit's scope check, with a 403 that names the scope that is missing."""

    def has_permission(self, request, view) -> bool:
        allowed = super().has_permission(request, view)
        if not allowed:
            scopes = " ".join(self.get_scopes(request, view))
            self.message = f"The token lacks the scope this API needs: {scopes}."
        return allowed
