"""Bearer tokens from django-oauth-toolkit, checked before the request body is read."""

from oauth2_provider.contrib.rest_framework import OAuth2Authentication
from oauth2_provider.oauth2_backends import OAuthLibCore
from oauth2_provider.settings import oauth2_settings


class _HeaderOnlyCore(OAuthLibCore):
    """A resource server reads the token from the Authorization header only.

    django-oauth-toolkit's core reads ``request.POST`` to look for a token in the body, which
    would parse (and buffer) a whole multipart upload before the client is known.
    """

    def extract_body(self, request):
        return []


class BearerTokenAuthentication(OAuth2Authentication):
    """OAuth2Authentication that answers 401 without parsing the body."""

    def authenticate(self, request):
        server = oauth2_settings.OAUTH2_SERVER_CLASS(oauth2_settings.OAUTH2_VALIDATOR_CLASS())
        valid, oauth_request = _HeaderOnlyCore(server).verify_request(request, scopes=[])
        if valid:
            return oauth_request.user, oauth_request.access_token
        request.oauth2_error = getattr(oauth_request, "oauth2_error", {})
        return None
