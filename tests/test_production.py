"""``make serve`` for real: gunicorn from project/gunicorn.conf.py, static files through
whitenoise, JSON logs, on a free loopback port."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from .conftest import free_port
from .environments import ROOT, production

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
            requests.get(f"{base}/healthz", timeout=30)  # a loaded machine boots slowly
            return
        except (requests.ConnectionError, requests.Timeout):
            time.sleep(0.1)
    pytest.fail(f"gunicorn did not answer:\n{log.read_text()}")


def log_lines(log: Path) -> list[dict]:
    lines = []
    for line in log.read_text().splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


@pytest.mark.live
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
