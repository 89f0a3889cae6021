"""Real servers for the live tests: runserver, gunicorn, ``make serve``'s nginx front, uvicorn.

Each server runs the project as shipped (its own process, its own database file or PostgreSQL
database, a media directory) on a free loopback port::

    site = Site.create(tmp_path)                  # migrated SQLite database, a user and a token
    with site.serve("gunicorn") as base:          # or "runserver", "front" (nginx + gunicorn),
                                                  # "uvicorn" (project.asgi, `make serve-asgi`)
        requests.post(f"{base}/api/images/", headers=site.auth, ...)
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from .conftest import free_port

ROOT = Path(__file__).resolve().parent.parent
SECRET = secrets.token_urlsafe(50)


def production_env(**overrides: str) -> dict[str, str]:
    """This process's environment without DJANGO_*/AWS bucket settings, in production mode."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_"))}
    env.pop("AWS_STORAGE_BUCKET_NAME", None)
    env.update(
        DJANGO_SETTINGS_MODULE="project.settings",
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY=SECRET,
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        DJANGO_LOG_FORMAT="text",
        WEB_CONCURRENCY="1",
    )
    env.update(overrides)
    return env


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout


@dataclass
class Site:
    """One deployment's state: environment (database, media), and a bearer token."""

    root: Path
    env: dict[str, str]
    token: str = ""
    logs: list[Path] = field(default_factory=list)

    @classmethod
    def create(cls, root: Path, **env: str) -> Site:
        defaults = {"DATABASE_URL": f"sqlite:///{root / 'db.sqlite3'}"}
        env = production_env(**{**defaults, "MEDIA_ROOT": str(root / "media"), **env})
        site = cls(root, env)
        manage(env, "migrate", "--noinput", "-v", "0")
        site.token = manage(env, "issue_token", "--username", "live", "--scopes", "images")
        site.token = site.token.strip().splitlines()[-1]
        return site

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def media_files(self) -> list[Path]:
        media = self.root / "media"
        return sorted(path for path in media.rglob("*") if path.is_file())

    @contextlib.contextmanager
    def serve(self, kind: str, **env: str) -> Iterator[str]:
        """Run ``kind`` (runserver, gunicorn, front, uvicorn) until the block ends; its base URL."""
        port = free_port()
        bind = f"127.0.0.1:{port}"
        commands = {
            "runserver": ["manage.py", "runserver", bind, "--noreload", "--skip-checks"],
            "gunicorn": ["-m", "gunicorn", "-c", "project/gunicorn.conf.py", "--bind", bind,
                         "project.wsgi"],
            "front": ["-m", "project.serve", "--bind", bind, "--skip-collectstatic"],
            "uvicorn": ["-m", "project.serve", "--bind", bind, "--skip-collectstatic",
                        "--server", "uvicorn"],
        }  # fmt: skip
        environment = {**self.env, **env}
        if kind == "runserver":
            environment["DJANGO_DEBUG"] = "1"  # what `make run` serves
        log = self.root / f"{kind}-{port}.log"
        self.logs.append(log)
        with log.open("w") as out:
            process = subprocess.Popen(
                [sys.executable, *commands[kind]],
                cwd=ROOT, env=environment, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        base = f"http://{bind}"
        try:
            wait_until_up(base, process, log)
            yield base
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()


def wait_until_up(base: str, process: subprocess.Popen, log: Path, seconds: float = 180) -> None:
    """Until /healthz answers (a loaded machine may take a while to boot a worker)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server exited:\n{log.read_text()}")
        try:
            requests.get(f"{base}/healthz", timeout=30)
            return
        except requests.RequestException:
            time.sleep(0.2)
    pytest.fail(f"the server did not answer:\n{log.read_text()}")
