"""A live images_app server for the HTTP goal: gunicorn, SQLite and the filesystem in a temp dir.

The project's own ``manage.py``, settings and gunicorn config, configured only through the
environment they document (DATABASE_URL, MEDIA_ROOT, DJANGO_DEBUG...); one worker, one client,
so the worker's CPU time and memory are the upload's.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from .inputs import small_like
from .methods import upload_request

HOST = "127.0.0.1"
CONFIG = "project/gunicorn.conf.py"


class ServerError(Exception):
    """The server could not be started; the message says what failed."""


class Server:
    def __init__(self, root: Path, workdir: Path):
        self.root = root
        self.workdir = workdir
        self.media_root = workdir / "media"
        self.process: subprocess.Popen | None = None
        self.log = workdir / "server.log"

    def start(self) -> dict:
        """Migrate, issue a token, start gunicorn, upload once to warm it; return the options
        a child needs (url, token, media_root, pid of the worker)."""
        self.media_root.mkdir(parents=True, exist_ok=True)
        env = self._environment()
        self._manage(env, "migrate", "--noinput", "-v", "0")
        token = self._manage(env, "issue_token", "--username", "bench", "--scopes", "images")
        token = token.strip().splitlines()[-1]
        port = _free_port()
        command = [sys.executable, "-m", "gunicorn", "project.wsgi:application"]
        if (self.root / CONFIG).exists():  # as deployed (make serve), but one worker
            command += ["--config", CONFIG]
        command += ["--bind", f"{HOST}:{port}", "--workers", "1", "--log-level", "warning"]
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                command, cwd=self.root, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        self._wait_for(port)
        options = {"url": f"http://{HOST}:{port}", "token": token}
        self._warm_up(port, token)
        options.update(media_root=str(self.media_root), pid=self._worker())
        return options

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)  # gunicorn's graceful stop, worker included
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def _environment(self) -> dict:
        env = {
            key: value
            for key, value in os.environ.items()
            if key not in ("AWS_STORAGE_BUCKET_NAME", "REDIS_URL", "DATABASE_URL")
        }
        env.update(
            DJANGO_SETTINGS_MODULE="project.settings",
            DATABASE_URL=f"sqlite:///{self.workdir / 'db.sqlite3'}",
            MEDIA_ROOT=str(self.media_root),
            DJANGO_DEBUG="0",  # as deployed; production settings then want a real key
            DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
            DJANGO_ALLOWED_HOSTS=HOST,
        )
        return env

    def _manage(self, env: dict, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=self.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if result.returncode != 0:
            raise ServerError(f"manage.py {args[0]} failed: {result.stderr.strip()[-500:]}")
        return result.stdout

    def _wait_for(self, port: int) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerError(f"gunicorn exited: {self.log.read_text()[-500:]}")
            try:
                socket.create_connection((HOST, port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.2)
        raise ServerError("gunicorn did not listen within 30 s")

    def _warm_up(self, port: int, token: str) -> None:
        """One upload: the worker's first request imports the renderer and opens the DB."""
        body, headers = upload_request(small_like("JPEG"), "warm.jpg", token)
        connection = http.client.HTTPConnection(HOST, port, timeout=120)
        connection.request("POST", "/api/images/", body=body, headers=headers)
        response = connection.getresponse()
        payload = response.read()
        connection.close()
        if response.status != 200:
            raise ServerError(f"warm-up upload answered {response.status}: {payload[:300]!r}")
        json.loads(payload)

    def _worker(self) -> int:
        """The pid of gunicorn's worker: the child of the master we started."""
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.process.pid:
                return int(stat.parent.name)
        raise ServerError("gunicorn's worker process was not found")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]
