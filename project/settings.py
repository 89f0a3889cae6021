"""Settings for the images service. Everything deployment-specific comes from the environment;
the defaults are the embedded, development-friendly setup: SQLite and the filesystem."""

import os
import tempfile
from pathlib import Path

import dj_database_url
from botocore.config import Config
from corsheaders.defaults import default_headers as default_cors_headers
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
DEV_SECRET_KEY = "dev-only-insecure-key-change-me"


def env_bool(name: str, default: bool) -> bool:
    return os.environ.get(name, str(int(default))).strip().lower() in ("1", "true", "yes", "on")


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def production_secret_key() -> str:
    """DJANGO_DEBUG=0 refuses to start on a missing, short or development secret key."""
    key = os.environ.get("DJANGO_SECRET_KEY", "")
    if len(key) < 50 or len(set(key)) < 5 or key.startswith(("django-insecure", DEV_SECRET_KEY)):
        MISSING.append(
            "DJANGO_SECRET_KEY must be set to a random value of at least 50 characters when "
            "DJANGO_DEBUG=0, e.g. the output of: "
            "python -c 'import secrets; print(secrets.token_urlsafe(50))'"
        )
    return key


def production_allowed_hosts() -> list[str]:
    hosts = env_list("DJANGO_ALLOWED_HOSTS")
    if not hosts:
        MISSING.append(
            "DJANGO_ALLOWED_HOSTS must list the host names this service answers to when "
            "DJANGO_DEBUG=0, comma-separated, e.g. DJANGO_ALLOWED_HOSTS=images.example.com"
        )
    return hosts


# Every production setting that is missing or wrong, refused at once in one message (not one
# variable per attempt to start).
MISSING: list[str] = []
DEBUG = env_bool("DJANGO_DEBUG", True)
if DEBUG:
    SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or DEV_SECRET_KEY
    ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
else:
    SECRET_KEY = production_secret_key()
    ALLOWED_HOSTS = production_allowed_hosts()
if MISSING:
    raise ImproperlyConfigured(
        f"{len(MISSING)} production setting(s) missing or invalid:\n- " + "\n- ".join(MISSING)
    )
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")  # e.g. https://images.example.com

# Browser clients on other origins (a web back office): none unless listed, comma-separated,
# e.g. DJANGO_CORS_ALLOWED_ORIGINS=https://office.example.com. The API uses bearer tokens, not
# cookies, so credentials stay off; the headers a client sends and reads are allowed here.
CORS_ALLOWED_ORIGINS = env_list("DJANGO_CORS_ALLOWED_ORIGINS")
CORS_URLS_REGEX = r"^/api/"
CORS_ALLOW_HEADERS = (*default_cors_headers, "x-api-version", "idempotency-key")
CORS_ALLOW_METHODS = ("DELETE", "GET", "OPTIONS", "POST")  # what the API answers; no PUT, PATCH
CORS_EXPOSE_HEADERS = ["Retry-After", "WWW-Authenticate"]

# Behind a TLS-terminating load balancer. Each is a switch, because each is wrong somewhere:
# secure cookies break the admin over plain HTTP, and trusting X-Forwarded-Proto is a hole
# unless the proxy in front always sets it.
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", not DEBUG)
if env_bool("DJANGO_SECURE_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = int(os.environ.get("DJANGO_SECURE_HSTS_SECONDS", 0))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", False)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "oauth2_provider",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files, served from here: no CDN
    "corsheaders",
    "images_app",
]

MIDDLEWARE = [
    # First: load balancers probe by IP, before ALLOWED_HOSTS and the HTTPS redirect apply.
    "images_app.health.HealthCheckMiddleware",
    # Before anything that can answer: preflights get their answer before authentication, and
    # every answer to an allowed origin, errors included, carries the CORS headers.
    "corsheaders.middleware.CorsMiddleware",
    "images_app.logging.ApiLogMiddleware",  # logs what the client gets: outside the envelope
    "images_app.middleware.ApiErrorEnvelopeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

if not DEBUG:
    # Static files (the admin's CSS, Swagger UI) from STATIC_ROOT, as collectstatic left them;
    # development serves them from the apps through runserver instead.
    MIDDLEWARE.insert(
        MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1,
        "whitenoise.middleware.WhiteNoiseMiddleware",
    )

ROOT_URLCONF = "project.urls"
WSGI_APPLICATION = "project.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"), conn_max_age=60
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Bounded waits, so that a database outage is a prompt 503 rather than workers pinned for its
    # whole length: a connect timeout (libpq's), a statement timeout (the server's), and TCP
    # keepalives that notice a server gone silent mid-query within about 10 s. A connection kept
    # between requests is checked before reuse, so the first request after an outage just works.
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    _options = DATABASES["default"].setdefault("OPTIONS", {})
    _options.setdefault("connect_timeout", int(os.environ.get("DATABASE_CONNECT_TIMEOUT", 5)))
    _statement_ms = int(float(os.environ.get("DATABASE_STATEMENT_TIMEOUT", 30)) * 1000)
    _options["options"] = f"{_options.get('options', '')} -c statement_timeout={_statement_ms}"
    _options.update(keepalives=1, keepalives_idle=5, keepalives_interval=2, keepalives_count=3)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Tests use a file, not memory, so live-server threads really write concurrently; one per
    # process, so parallel test runs never share it.
    DATABASES["default"]["TEST"] = {
        "NAME": os.path.join(tempfile.gettempdir(), f"images_app-test-{os.getpid()}.sqlite3")
    }
    # Concurrent uploads on the embedded default: WAL lets readers run beside the writer, and
    # IMMEDIATE transactions queue writers on the busy timeout instead of failing "locked".
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# `manage.py collectstatic` fills it (make serve does); whitenoise serves it, compressed and with
# hashed names cached for good. Development serves straight from the apps.
STATIC_ROOT = Path(os.environ.get("DJANGO_STATIC_ROOT", BASE_DIR / "staticfiles"))
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", BASE_DIR / "media"))
MEDIA_URL = "/media/"

# Images go to S3 when a bucket is named, else to the filesystem under MEDIA_ROOT (served by the
# app itself at MEDIA_URL). URLs are durable and unsigned unless AWS_QUERYSTRING_AUTH=1.
AWS_STORAGE_BUCKET_NAME = os.environ.get("AWS_STORAGE_BUCKET_NAME")
if AWS_STORAGE_BUCKET_NAME:
    IMAGES_STORAGE = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": AWS_STORAGE_BUCKET_NAME,
            "endpoint_url": os.environ.get("AWS_S3_ENDPOINT_URL") or None,
            "region_name": os.environ.get("AWS_S3_REGION_NAME") or None,
            "custom_domain": os.environ.get("AWS_S3_CUSTOM_DOMAIN") or None,
            "querystring_auth": env_bool("AWS_QUERYSTRING_AUTH", False),
            "default_acl": None,  # modern buckets disable ACLs; reads come from the policy/CDN
            # Uploads never reuse a key (random tokens); rerender_images replaces renditions in
            # place, and with overwriting allowed that is one atomic PUT.
            "file_overwrite": True,
            # Browsers and the CDN may cache a file this long. rerender_images rewrites
            # renditions in place (stored URLs keep working), so keep it finite.
            "object_parameters": {
                "CacheControl": os.environ.get("AWS_S3_CACHE_CONTROL", "public, max-age=86400")
            },
            # Bounded waits and standard retries: an outage answers 503 within seconds instead
            # of pinning workers, and the next request after S3 recovers just works.
            "client_config": Config(
                connect_timeout=float(os.environ.get("AWS_S3_CONNECT_TIMEOUT", 3)),
                read_timeout=float(os.environ.get("AWS_S3_READ_TIMEOUT", 10)),
                retries={  # botocore's "max_attempts" counts the retries, not the attempts
                    "total_max_attempts": int(os.environ.get("AWS_S3_MAX_ATTEMPTS", 3)),
                    "mode": "standard",
                },
                max_pool_connections=20,
                # django-storages ignores its "addressing_style" once client_config is set.
                s3={"addressing_style": os.environ.get("AWS_S3_ADDRESSING_STYLE") or "auto"},
            ),
        },
    }
else:
    IMAGES_STORAGE = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": MEDIA_ROOT, "base_url": MEDIA_URL},
    }
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
    "images": IMAGES_STORAGE,
}
SERVE_MEDIA = not AWS_STORAGE_BUCKET_NAME

# Throttle counters: per process by default, shared through Redis when REDIS_URL is set.
REDIS_URL = os.environ.get("REDIS_URL")
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    if REDIS_URL
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
}

# Celery (project/celery.py) for re-rendering across machines: `rerender_images --celery` and the
# admin's re-render of large selections. Unset broker: no Celery, everything in process.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL")  # e.g. redis://127.0.0.1:6379/1
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND", CELERY_BROKER_URL)
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CELERY_TASK_DEFAULT_QUEUE", "images_app")
CELERY_TASK_ACKS_LATE = True  # a worker lost mid-batch: the batch runs again (it is idempotent)
CELERY_WORKER_PREFETCH_MULTIPLIER = 1  # a batch goes to whichever worker is free
CELERY_RESULT_EXPIRES = 7 * 24 * 3600
CELERY_TASK_ALWAYS_EAGER = False

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
}

# OpenAPI at /api/schema/, Swagger UI at /api/docs/; the images API's own parts come from
# images_app.schema (see its docstring).
SPECTACULAR_SETTINGS = {
    "TITLE": "Images API",
    "DESCRIPTION": "Upload images, get durable rendition URLs back. Every error answers with "
    'the envelope `{"error": {"fields", "description", "key"}}`.',
    "VERSION": "12",
    "SERVE_INCLUDE_SCHEMA": False,
    "PREPROCESSING_HOOKS": ["images_app.schema.preprocess_endpoints"],
    "ENUM_NAME_OVERRIDES": {
        "ImageTypeIndexEnum": "images_app.models.ImageType",
        "ImageTypeNameEnum": "images_app.models.ImageType.labels",
    },
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "OAUTH2_FLOWS": ["clientCredentials"],
    "OAUTH2_TOKEN_URL": "/o/token/",
    "OAUTH2_SCOPES": {"images": "Upload and manage your images"},
}

OAUTH2_PROVIDER = {
    "SCOPES": {"images": "Upload and manage your images"},
    "ACCESS_TOKEN_EXPIRE_SECONDS": int(os.environ.get("ACCESS_TOKEN_EXPIRE_SECONDS", 36000)),
    # RFC 9700 (OAuth 2.0 Security BCP) now, rather than when django-oauth-toolkit 4 flips them:
    # clients use client credentials (or the authorization code flow with S256 PKCE), and send
    # tokens in the Authorization header only.
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    # Tokens at rest are SHA-256 checksums only (the `token` column stays blank): a database
    # backup yields no working token. issue_token prints the token once; it is not stored.
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
    # Development keeps http:// redirect URIs for local clients.
    "ALLOWED_REDIRECT_URI_SCHEMES": ["http", "https"] if DEBUG else ["https"],
}

IMAGES_APP = {}
if CELERY_BROKER_URL:  # the admin queues re-renders of more images than this for the workers
    IMAGES_APP["RERENDER_ENQUEUE_OVER"] = int(os.environ.get("IMAGES_RERENDER_ENQUEUE_OVER", "20"))
    # and the files of a big user deletion beyond DELETE_INLINE_FILES, instead of the next sweep
    IMAGES_APP["DELETE_ENQUEUE_REST"] = True
if "IMAGES_UPLOAD_RATE" in os.environ:  # uploads per user, e.g. "600/min"; "none": no limit
    _rate = os.environ["IMAGES_UPLOAD_RATE"].strip()
    IMAGES_APP["UPLOAD_RATE"] = None if _rate.lower() in ("", "none", "off") else _rate

# One image per request: Django refuses more files early (the API answers 400 with the envelope).
DATA_UPLOAD_MAX_NUMBER_FILES = 10

# One JSON object per line on stderr (gunicorn passes it through): every upload and every error
# answer of the API, with id, owner, version and timings (DJANGO_LOG_FORMAT=text, the DEBUG default,
# for humans).
LOG_LEVEL = os.environ.get("DJANGO_LOG_LEVEL", "INFO").upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {"()": "images_app.logging.JsonFormatter"},
        "text": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": os.environ.get("DJANGO_LOG_FORMAT", "json" if not DEBUG else "text"),
        }
    },
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "images_app": {"level": LOG_LEVEL},
        # 5xx with their tracebacks; the API's 4xx are logged by images_app.logging already.
        "django.request": {"level": "ERROR"},
    },
}
