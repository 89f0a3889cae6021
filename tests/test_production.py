"""Production settings, the real server (gunicorn + whitenoise), /healthz and structured logs."""

import json
import logging
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from django.core.files.uploadedfile import SimpleUploadedFile

from images_app import health
from images_app.logging import JsonFormatter

from . import images
from .conftest import client_for, free_port, unwritable_filesystem

ROOT = Path(__file__).resolve().parent.parent
SECRET = secrets.token_urlsafe(50)


def environment(**overrides: str | None) -> dict[str, str]:
    """This process's environment without any DJANGO_* variable, then ``overrides``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env["DJANGO_SETTINGS_MODULE"] = "project.settings"
    env.pop("DATABASE_URL", None)
    env.update({k: v for k, v in overrides.items() if v is not None})
    return env


def production(**overrides: str | None) -> dict[str, str]:
    base = {"DJANGO_DEBUG": "0", "DJANGO_SECRET_KEY": SECRET, "DJANGO_ALLOWED_HOSTS": "img.test"}
    return environment(**{**base, **overrides})


def python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def settings_of(env: dict[str, str], *names: str) -> dict:
    code = (
        "import django, json; django.setup(); from django.conf import settings; "
        f"print(json.dumps({{n: getattr(settings, n, None) for n in {list(names)!r}}}))"
    )
    result = python(code, env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


SETUP = "import django; django.setup()"


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


# The real thing: gunicorn from its config, static files through whitenoise, JSON logs


@pytest.fixture(scope="session")
def static_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("static")
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
        cwd=ROOT, env=production(DJANGO_STATIC_ROOT=str(root)), check=True, timeout=300,
    )  # fmt: skip
    return root


@pytest.fixture
def gunicorn(static_root, tmp_path):
    """``make serve``'s command line on a free loopback port; yields (base URL, log file)."""
    port = free_port()
    log = tmp_path / "server.log"
    env = production(
        DJANGO_STATIC_ROOT=str(static_root),
        DJANGO_ALLOWED_HOSTS="img.test,127.0.0.1",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        MEDIA_ROOT=str(tmp_path / "media"),
        WEB_CONCURRENCY="1",
    )
    env.pop("AWS_STORAGE_BUCKET_NAME", None)
    command = [sys.executable, "-m", "gunicorn", "-c", "project/gunicorn.conf.py",
               "--bind", f"127.0.0.1:{port}", "project.wsgi"]  # fmt: skip
    with log.open("w") as out:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(base, server, log)
        yield base, log
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


def _wait_until_up(base: str, server: subprocess.Popen, log: Path) -> None:
    for _ in range(300):
        if server.poll() is not None:
            pytest.fail(f"gunicorn exited:\n{log.read_text()}")
        try:
            requests.get(f"{base}/healthz", timeout=5)
            return
        except requests.ConnectionError:
            time.sleep(0.1)
    pytest.fail(f"gunicorn did not answer:\n{log.read_text()}")


def log_lines(log: Path) -> list[dict]:
    lines = []
    for line in log.read_text().splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


@pytest.mark.live_server
def test_gunicorn_serves_health_static_files_and_logs_json(gunicorn):
    base, log = gunicorn

    healthz = requests.get(f"{base}/healthz", headers={"Host": "10.0.0.7"}, timeout=10)
    assert healthz.status_code == 200  # a load balancer probing by address, not a host name
    assert healthz.json()["status"] == "ok"

    login = requests.get(f"{base}/admin/login/", headers={"Host": "img.test"}, timeout=10)
    assert login.status_code == 200
    css = next(part.split('"')[0] for part in login.text.split('href="')[1:] if "base." in part)
    assert css.startswith("/static/admin/css/base.") and css != "/static/admin/css/base.css"
    served = requests.get(base + css, headers={"Accept-Encoding": "gzip"}, timeout=10)
    assert served.status_code == 200
    assert served.headers["Content-Type"].startswith("text/css")
    assert "immutable" in served.headers["Cache-Control"]  # hashed name: cached for good

    docs = requests.get(f"{base}/api/docs/", headers={"Host": "img.test"}, timeout=10)
    bundle = "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle."
    assert bundle in docs.text

    refused = requests.post(f"{base}/api/images/", headers={"Host": "img.test"}, timeout=10)
    assert refused.status_code == 401
    time.sleep(0.2)  # the worker flushes its log line
    (line,) = [entry for entry in log_lines(log) if entry.get("event") == "error"]
    assert line["status"] == 401
    assert line["key"] == "common.not_authenticated"
    assert line["level"] == "WARNING"
    assert line["logger"] == "images_app.api"


# /healthz in process


pytestmark_db = pytest.mark.django_db


@pytestmark_db
@pytest.mark.parametrize("path", ["/healthz", "/healthz/"])
def test_healthz_checks_the_database_and_the_storage(client, backend, path):
    response = client.get(path, HTTP_HOST="10.1.2.3")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}  # what a load balancer needs, nothing more
    assert response["Cache-Control"] == "no-store"
    assert backend.keys() == set()  # the probe object is gone again


@pytestmark_db
def test_healthz_probes_the_storage_at_most_once_per_interval(client, backend, settings):
    settings.IMAGES_APP = {"HEALTHZ_STORAGE_SECONDS": 3600}
    before = health.check_storage.runs

    for _ in range(20):
        assert client.get("/healthz").status_code == 200

    assert health.check_storage.runs - before <= 1  # not one storage write per request
    settings.IMAGES_APP = {"HEALTHZ_STORAGE_SECONDS": 0}
    for _ in range(3):
        assert client.get("/healthz").status_code == 200
    assert health.check_storage.runs - before >= 3
    assert backend.keys() == set()


@pytestmark_db
def test_healthz_probes_a_newly_configured_storage_at_once(client, backend, settings, tmp_path):
    settings.IMAGES_APP = {"HEALTHZ_STORAGE_SECONDS": 3600}
    assert client.get("/healthz").status_code == 200

    settings.STORAGES = {**settings.STORAGES, "images": unwritable_filesystem(tmp_path).config()}

    assert client.get("/healthz").status_code == 503


@pytestmark_db
def test_healthz_answers_503_with_the_envelope_when_storage_fails(client, settings, tmp_path):
    settings.STORAGES = {**settings.STORAGES, "images": unwritable_filesystem(tmp_path).config()}

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json() == {
        "error": {
            "fields": {"storage": ["Storage probe failed."]},
            "description": "Unhealthy: storage.",
            "key": "common.service_unavailable",
        }
    }


@pytestmark_db
def test_healthz_answers_503_when_the_database_fails(client, backend, monkeypatch):
    def down():
        raise OSError("connection refused")

    monkeypatch.setitem(health.CHECKS, "database", down)

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["error"]["fields"] == {"database": ["Database query failed."]}


# Structured logs of every upload and every error


def api_records(caplog) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == "images_app.api"]


@pytestmark_db
def test_an_upload_is_logged_with_id_owner_version_and_timings(backend, user, caplog):
    caplog.set_level(logging.INFO, logger="images_app")
    upload = SimpleUploadedFile("p.jpg", images.jpeg(64, 48), content_type="image/jpeg")

    body = (
        client_for(user, version=5)
        .post("/api/images/", {"product_image": upload, "type": "user"}, format="multipart")
        .json()
    )

    (record,) = api_records(caplog)
    line = json.loads(JsonFormatter().format(record))
    assert line["level"] == "INFO"
    assert line["event"] == "upload"
    assert line["id"] == -body["id"] > 0  # the real id, not the legacy negative one
    assert line["owner"] == user.pk
    assert line["version"] == 5
    assert line["status"] == 200
    assert line["total_ms"] > 0
    assert line["request_bytes"] > 0


@pytestmark_db
def test_upload_logs_carry_render_and_store_timings_where_the_pipeline_marks_them(
    backend, user, caplog
):
    caplog.set_level(logging.INFO, logger="images_app")
    upload = SimpleUploadedFile("p.jpg", images.jpeg(64, 48), content_type="image/jpeg")
    client_for(user).post("/api/images/", {"image": upload, "type": "user"}, format="multipart")

    (record,) = api_records(caplog)
    assert record.render_ms > 0
    assert record.store_ms >= 0
    assert record.total_ms >= record.render_ms


@pytestmark_db
@pytest.mark.parametrize(
    ("version", "status", "key", "authenticated"),
    [
        ("abc", 406, "common.invalid_version", False),  # DRF checks the version first
        ("12", 400, "common.serializer_error", True),
    ],
)
def test_an_error_is_logged_with_its_key(
    backend, user, caplog, version, status, key, authenticated
):
    caplog.set_level(logging.INFO, logger="images_app")

    client_for(user, version=version).post("/api/images/", {}, format="multipart")

    (record,) = api_records(caplog)
    line = json.loads(JsonFormatter().format(record))
    assert (line["event"], line["status"], line["key"], line["level"]) == (
        "error", status, key, "WARNING"
    )  # fmt: skip
    assert line["owner"] == (user.pk if authenticated else None)
    assert str(line["version"]) == version


@pytestmark_db
def test_a_server_error_is_logged_as_an_error_with_its_traceback(backend, api, caplog, monkeypatch):
    from images_app.models import Image

    def broken(**kwargs):
        raise RuntimeError("database on fire")

    monkeypatch.setattr(Image.objects, "create_from_upload", broken)
    caplog.set_level(logging.INFO, logger="images_app")
    upload = SimpleUploadedFile("p.jpg", images.jpeg(64, 48), content_type="image/jpeg")

    response = api.post("/api/images/", {"image": upload, "type": "user"}, format="multipart")

    assert response.status_code == 500
    assert "database on fire" not in response.content.decode()
    (record,) = api_records(caplog)
    assert (record.levelname, record.status, record.key) == ("ERROR", 500, "common.server_error")
    traced = [r for r in caplog.records if r.exc_info]
    assert "database on fire" in JsonFormatter().format(traced[0])


def test_successful_reads_are_not_logged(caplog, rf):
    from images_app.logging import log_response

    caplog.set_level(logging.INFO, logger="images_app")
    from django.http import HttpResponse

    log_response(rf.get("/api/images/"), HttpResponse(status=200), {"total": 1.0})

    assert api_records(caplog) == []


def test_phases_marked_during_a_request_show_up_as_timings(caplog, rf):
    from django.http import JsonResponse

    from images_app.logging import ApiLogMiddleware, phase

    def view(request):
        with phase("render"):
            pass
        with phase("store"):
            pass
        with phase("store"):  # a phase met twice adds up
            pass
        return JsonResponse({"id": 7, "urls": {}, "type": 0, "new": True})

    caplog.set_level(logging.INFO, logger="images_app")
    ApiLogMiddleware(view)(rf.post("/api/images/"))
    with phase("render"):  # outside a request: nowhere to record, no error
        pass

    (record,) = api_records(caplog)
    assert record.id == 7
    assert {"render_ms", "store_ms", "total_ms"} <= set(vars(record))
    assert record.total_ms >= record.render_ms + record.store_ms
