"""``make serve``'s launcher (project/serve.py): one message for missing settings, a valid nginx
configuration. The front itself is exercised live in test_request_framing and test_slow_senders.
"""

import re
import shutil
import subprocess
import sys

import pytest
import requests

from project import serve

from .live import ROOT, Site, production_env

pytestmark = pytest.mark.subprocess


def test_missing_production_settings_are_named_together_without_a_traceback():
    env = production_env()
    del env["DJANGO_SECRET_KEY"], env["DJANGO_ALLOWED_HOSTS"]

    result = subprocess.run(
        [sys.executable, "-m", "project.serve", "--bind", "127.0.0.1:1"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip

    assert result.returncode == 2
    assert "DJANGO_SECRET_KEY must" in result.stderr
    assert "DJANGO_ALLOWED_HOSTS must" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_nginx_configuration_is_valid_and_carries_the_request_limit(settings, tmp_path):
    settings.IMAGES_APP = {"MAX_REQUEST_BYTES": 1234567}
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    conf = tmp_path / "nginx.conf"

    conf.write_text(serve.nginx_conf(tmp_path, "127.0.0.1:8080", "127.0.0.1:9090"))

    text = conf.read_text()
    assert "client_max_body_size 1234567;" in text
    assert "server 127.0.0.1:9090;" in text
    assert not re.search(r"@[A-Z_]+@", text)  # every placeholder filled in
    check = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-c", str(conf), "-e", "stderr"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert check.returncode == 0, check.stderr


@pytest.mark.live
def test_two_gunicorns_on_one_host_open_no_shared_control_socket(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    site = Site.create(tmp_path)
    env = {"HOME": str(home), "XDG_RUNTIME_DIR": str(home)}  # where gunicorn 25+ would put it

    with site.serve("gunicorn", **env) as first, site.serve("gunicorn", **env) as second:
        assert requests.get(f"{first}/healthz", timeout=30).status_code == 200
        assert requests.get(f"{second}/healthz", timeout=30).status_code == 200
        assert list(home.rglob("*.ctl")) == []
