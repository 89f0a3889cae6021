"""project/settings.py: DJANGO_DEBUG=0 refuses to start without a real secret key and allowed
hosts, secure defaults with a switch for each, check --deploy clean, an invalid rendition spec
stopping the boot. Each test runs Django in a child process."""

import re
import subprocess
import sys

import pytest

from .conftest import public_bucket
from .environments import ROOT, SETUP, environment, production, python, settings_of
from .faultproxy import FaultProxy

# DJANGO_DEBUG=0 refuses to start without a real secret key and allowed hosts


@pytest.mark.subprocess
@pytest.mark.parametrize(
    ("overrides", "variable"),
    [
        ({"DJANGO_SECRET_KEY": None}, "DJANGO_SECRET_KEY"),
        ({"DJANGO_SECRET_KEY": ""}, "DJANGO_SECRET_KEY"),
        ({"DJANGO_SECRET_KEY": "dev-only-insecure-key-change-me"}, "DJANGO_SECRET_KEY"),
        ({"DJANGO_SECRET_KEY": "short-but-random-Xq9"}, "DJANGO_SECRET_KEY"),
        ({"DJANGO_SECRET_KEY": "a" * 60}, "DJANGO_SECRET_KEY"),
        ({"DJANGO_ALLOWED_HOSTS": None}, "DJANGO_ALLOWED_HOSTS"),
        ({"DJANGO_ALLOWED_HOSTS": " , "}, "DJANGO_ALLOWED_HOSTS"),
    ],
)
def test_production_refuses_to_start_without(overrides, variable):
    result = python(SETUP, production(**overrides))

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert f"{variable} must" in result.stderr


@pytest.mark.subprocess
def test_production_starts_with_both():
    assert python(SETUP, production()).returncode == 0


@pytest.mark.subprocess
def test_development_needs_neither():
    found = settings_of(environment(), "DEBUG", "ALLOWED_HOSTS", "SESSION_COOKIE_SECURE")

    assert found == {"DEBUG": True, "ALLOWED_HOSTS": ["localhost", "127.0.0.1", "[::1]"],
                     "SESSION_COOKIE_SECURE": False}  # fmt: skip


@pytest.mark.subprocess
def test_secure_cookies_by_default_in_production_and_a_switch_for_each():
    names = ("SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SECURE_PROXY_SSL_HEADER")
    assert settings_of(production(), *names) == {
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SECURE_PROXY_SSL_HEADER": None,  # trusting X-Forwarded-Proto is opt-in
    }
    switched = production(DJANGO_SECURE_COOKIES="0", DJANGO_SECURE_PROXY_SSL_HEADER="1")
    assert settings_of(switched, *names) == {
        "SESSION_COOKIE_SECURE": False,
        "CSRF_COOKIE_SECURE": False,
        "SECURE_PROXY_SSL_HEADER": ["HTTP_X_FORWARDED_PROTO", "https"],
    }


@pytest.mark.subprocess
def test_the_documented_production_environment_passes_check_deploy():
    env = production(
        DJANGO_SECURE_PROXY_SSL_HEADER="1",
        DJANGO_SECURE_SSL_REDIRECT="1",
        DJANGO_SECURE_HSTS_SECONDS="31536000",
        DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS="1",
        DJANGO_SECURE_HSTS_PRELOAD="1",
        DJANGO_CSRF_TRUSTED_ORIGINS="https://img.test",
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    ids = set(re.findall(r"\(([\w.]+\.[WE]\d+)\)", result.stdout + result.stderr))
    assert ids == set(), result.stdout + result.stderr  # tokens are stored hashed: no W006


@pytest.mark.subprocess
def test_an_invalid_rendition_spec_stops_the_server_from_booting(tmp_path):
    (tmp_path / "bad_settings.py").write_text(
        "from project.settings import *\nIMAGES_APP = {'RENDITIONS': {'thumb': 'max-0x150'}}\n"
    )
    env = production(DJANGO_SETTINGS_MODULE="bad_settings", PYTHONPATH=f"{tmp_path}:{ROOT}")

    result = python("import project.wsgi", env)

    assert result.returncode != 0
    assert "images_app.E001" in result.stderr
    assert 'IMAGES_APP["RENDITIONS"]' in result.stderr


@pytest.mark.subprocess
@pytest.mark.parametrize("attempts", ["1", "3"])
def test_aws_s3_max_attempts_is_the_number_of_attempts(s3_endpoint, attempts):
    proxy = FaultProxy(s3_endpoint).start()
    proxy.fail_puts(status=503)  # every write refused: each attempt is one PUT
    env = production(
        AWS_STORAGE_BUCKET_NAME=public_bucket(s3_endpoint), AWS_S3_ENDPOINT_URL=proxy.url,
        AWS_S3_REGION_NAME="us-east-1", AWS_S3_ADDRESSING_STYLE="path",
        AWS_S3_MAX_ATTEMPTS=attempts,
    )  # fmt: skip
    code = (
        f"{SETUP}\nfrom images_app.storage import StorageFailure, get_storage, write\n"
        "try:\n    write(get_storage(), 'uploads/probe.txt', b'x', 'text/plain')\n"
        "except StorageFailure:\n    print('refused')\n"
    )
    try:
        result = python(code, env)
    finally:
        proxy.stop()

    assert result.stdout.strip() == "refused", result.stderr[-2000:]
    assert proxy.seen["PUT"] == int(attempts)  # botocore's max_attempts would be one more
