"""``manage.py issue_token --username U --scopes "images"``: a fresh bearer token, last line."""

import secrets
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_application_model
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
        application, _ = get_application_model().objects.get_or_create(
            name=APPLICATION_NAME,
            user=user,
            defaults={
                "client_type": "confidential",
                "authorization_grant_type": "client-credentials",
            },
        )
        token = get_access_token_model().objects.create(
            user=user,
            application=application,
            token=secrets.token_urlsafe(32),
            scope=" ".join(scopes.split()),
            expires=timezone.now() + timedelta(seconds=expires),
        )
        self.stdout.write(
            f"user {username} ({'created' if created else 'existing'}), scopes: {token.scope}"
        )
        self.stdout.write(token.token)
