"""``manage.py issue_token --username U --scopes "images"``: a fresh bearer token, last line.

The token is stored the way django-oauth-toolkit stores it (``set_token_value``): with
``COMPLIANT_BCP_RFC9700_TOKEN_STORAGE`` only its SHA-256 checksum is kept, so this output is the
only place the token ever appears. A deactivated user gets no token.
"""

import secrets
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_application_model, set_token_value
from oauth2_provider.settings import oauth2_settings

APPLICATION_NAME = "images_app command-line tokens"


class Command(BaseCommand):
    help = "Create the user and an OAuth2 application if needed; print a fresh access token."

    def add_arguments(self, parser):
        parser.add_argument("--username", required=True)
        parser.add_argument("--scopes", default="images", help='Space-separated, e.g. "images".')
        parser.add_argument(
            "--expires",
            type=int,
            default=oauth2_settings.ACCESS_TOKEN_EXPIRE_SECONDS,
            help="Lifetime in seconds (default: OAUTH2_PROVIDER's ACCESS_TOKEN_EXPIRE_SECONDS).",
        )

    def handle(self, *args, username, scopes, expires, **options):
        user, created = get_user_model().objects.get_or_create(username=username)
        if created:
            user.set_unusable_password()
            user.save(update_fields=["password"])
        if not user.is_active:
            raise CommandError(
                f"User {username} is deactivated; reactivate it (admin, Users, Active) first."
            )
        application, _ = get_application_model().objects.get_or_create(
            name=APPLICATION_NAME,
            user=user,
            defaults={
                "client_type": "confidential",
                "authorization_grant_type": "client-credentials",
            },
        )
        raw = secrets.token_urlsafe(32)
        token = get_access_token_model()(
            user=user,
            application=application,
            scope=" ".join(scopes.split()),
            expires=timezone.now() + timedelta(seconds=expires),
        )
        set_token_value(token, raw)
        token.save()
        self.stdout.write(
            f"user {username} ({'created' if created else 'existing'}), scopes: {token.scope}"
        )
        self.stdout.write(raw)
