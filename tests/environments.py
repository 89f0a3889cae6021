"""The project's environment for child processes: development, or production with a secret key
and allowed hosts, and a way to run Django's code in them (tests/test_project_settings.py,
tests/test_production.py)."""

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

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
