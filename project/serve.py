"""``make serve``: the production server, nginx in front of gunicorn, in one foreground command.

    python -m project.serve --bind 0.0.0.0:8000                 # nginx on :8000, gunicorn behind
    python -m project.serve --bind 0.0.0.0:8000 --front none    # gunicorn alone (your own proxy)
    python -m project.serve --bind 0.0.0.0:8000 --server uvicorn  # uvicorn alone, project.asgi

1. The settings are loaded first: missing production variables are listed in one message and
   the command exits 2, without a traceback.
2. ``collectstatic`` (whitenoise serves the files).
3. gunicorn (``project/gunicorn.conf.py``) on a free loopback port, then nginx on ``--bind``
   from ``project/nginx.conf.template``, its pid file and temporary files in a fresh directory.
   nginx buffers whole requests and answers, so slow clients cost an nginx connection, never a
   gunicorn thread (docs/deployment.md says why this front, and not an async server).

SIGTERM or SIGINT stops both gracefully; if either exits, the other is stopped and the command
exits with its status.
"""

from __future__ import annotations

import argparse
import grp
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = Path(__file__).with_name("nginx.conf.template")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    problem = load_settings()
    if problem:
        print(f"make serve: cannot start.\n{problem}", file=sys.stderr)
        return 2
    from django.core.management import call_command

    if not args.skip_collectstatic:
        call_command("collectstatic", interactive=False, verbosity=0)
    if args.server == "uvicorn":
        os.execv(sys.executable, uvicorn_command(args.bind))
    gunicorn = [sys.executable, "-m", "gunicorn", "-c", "project/gunicorn.conf.py"]
    if args.front == "none":
        os.execv(sys.executable, [*gunicorn, "--bind", args.bind, "project.wsgi"])
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.access(nginx, os.X_OK):
        print("make serve: nginx is not installed (apt-get install nginx-light), or run "
              "`make serve-gunicorn` behind your own proxy.", file=sys.stderr)  # fmt: skip
        return 2
    return run_fronted(gunicorn, nginx, args.bind)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m project.serve", description=__doc__)
    port = os.environ.get("PORT", "8000")
    parser.add_argument("--bind", default=os.environ.get("SERVE_BIND", f"0.0.0.0:{port}"))
    parser.add_argument("--front", choices=["nginx", "none"], default="nginx")
    parser.add_argument(
        "--server", choices=["gunicorn", "uvicorn"], default="gunicorn",
        help="uvicorn: ASGI (project.asgi), alone; it reads requests asynchronously itself",
    )  # fmt: skip
    parser.add_argument("--skip-collectstatic", action="store_true", help="(the API needs none)")
    return parser.parse_args(argv)


def uvicorn_command(bind: str) -> list[str]:
    """uvicorn serving ``project.asgi`` on ``bind``: the envelope for its own refusals, and
    timeouts for headers and bodies (ASGI_READ_TIMEOUT), which uvicorn itself does not have."""
    host, _, port = bind.rpartition(":")
    workers = os.environ.get("WEB_CONCURRENCY") or str(os.cpu_count() or 1)
    return [
        sys.executable, "-m", "uvicorn", "project.asgi:application",
        "--host", host.strip("[]"), "--port", port, "--workers", workers,
        "--http", "project.uvicorn_protocol:EnvelopeH11Protocol",
        "--lifespan", "off", "--ws", "none", "--no-access-log",
        "--timeout-keep-alive", "5", "--timeout-graceful-shutdown", "30",
        "--forwarded-allow-ips", os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1"),
    ]  # fmt: skip


def load_settings() -> str | None:
    """Set Django up; the ImproperlyConfigured message (one for every missing setting), if any."""
    import django
    from django.core.exceptions import ImproperlyConfigured

    try:
        django.setup()
    except ImproperlyConfigured as exc:
        return str(exc)
    return None


def run_fronted(gunicorn: list[str], nginx: str, bind: str) -> int:
    run = Path(tempfile.mkdtemp(prefix="images-serve-"))
    run.chmod(0o755)  # nginx's workers (an unprivileged user under root) write temporary files
    upstream = f"127.0.0.1:{free_port()}"
    processes = [subprocess.Popen([*gunicorn, "--bind", upstream, "project.wsgi"], cwd=ROOT)]
    try:
        if not wait_for(upstream, processes[0]):
            return processes[0].wait()
        conf = run / "nginx.conf"
        conf.write_text(nginx_conf(run, bind, upstream))
        command = [nginx, "-p", str(run), "-c", str(conf), "-e", "stderr", "-g", "daemon off;"]
        processes.append(subprocess.Popen(command, cwd=run))
        return supervise(processes)
    finally:
        stop(processes)
        shutil.rmtree(run, ignore_errors=True)


def nginx_conf(run: Path, bind: str, upstream: str) -> str:
    """The template with this run's values."""
    from images_app.conf import app_settings

    gunicorn_timeout = int(os.environ.get("GUNICORN_TIMEOUT", 120))
    values = {
        "@RUN@": str(run),
        "@LISTEN@": bind,
        "@UPSTREAM@": upstream,
        "@MAX_BODY@": str(app_settings.MAX_REQUEST_BYTES),
        "@READ_TIMEOUT@": f"{gunicorn_timeout + 10}s",
        "@WORKERS@": os.environ.get("NGINX_WORKERS", "auto"),
        "@USER@": worker_user(),
    }
    text = TEMPLATE.read_text()
    for name, value in values.items():
        text = text.replace(name, value)
    return text


def worker_user() -> str:
    """Under root, nginx's workers run as nobody (its default group name differs by distro)."""
    if os.geteuid() != 0:
        return ""
    nobody = pwd.getpwnam("nobody")
    return f"user nobody {grp.getgrgid(nobody.pw_gid).gr_name};"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(address: str, process: subprocess.Popen, seconds: float = 120) -> bool:
    """Until ``address`` accepts connections; False if ``process`` exits first."""
    host, port = address.rsplit(":", 1)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        try:
            socket.create_connection((host, int(port)), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.1)
    return False


def supervise(processes: list[subprocess.Popen]) -> int:
    """Wait until a signal asks to stop or a process exits; the status to exit with."""
    stopping: list[int] = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda signum, frame: stopping.append(signum))
    while not stopping:
        for process in processes:
            if process.poll() is not None:
                print(f"make serve: {Path(process.args[0]).name} exited ({process.returncode}); "
                      "stopping.", file=sys.stderr)  # fmt: skip
                return process.returncode or 1
        time.sleep(0.2)
    return 0


def stop(processes: list[subprocess.Popen]) -> None:
    """nginx first (it stops taking requests), then gunicorn; both gracefully."""
    for process in reversed(processes):
        if process.poll() is None:
            process.send_signal(signal.SIGQUIT if process is not processes[0] else signal.SIGTERM)
    for process in reversed(processes):
        try:
            process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            process.kill()


if __name__ == "__main__":
    sys.exit(main())
