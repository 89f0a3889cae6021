"""A second, minimal project: images_app with nothing from project/ — its own URL prefix, its
own database, Django's default storage (no "images" alias), no REST_FRAMEWORK settings."""

import os
import tempfile

ROOT = os.environ.get("PLUGGABLE_ROOT") or tempfile.mkdtemp(prefix="images-app-pluggable-")

SECRET_KEY = "pluggable-test"
DEBUG = False
ALLOWED_HOSTS = ["testserver"]
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "oauth2_provider",
    "images_app",
]
MIDDLEWARE = ["images_app.middleware.ApiErrorEnvelopeMiddleware"]
ROOT_URLCONF = "tests.pluggable.urls"
DATABASES = {
    "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.path.join(ROOT, "db.sqlite3")}
}
MEDIA_ROOT = os.path.join(ROOT, "media")
MEDIA_URL = "/files/"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
IMAGES_APP = {"API_PATH_PREFIXES": ["/v2/"], "KEY_PREFIX": "photos"}
