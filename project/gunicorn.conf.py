"""gunicorn settings for ``make serve`` (``gunicorn -c project/gunicorn.conf.py project.wsgi``).

Uploads are CPU-bound (decoding a 12-megapixel JPEG and encoding five renditions) with storage
writes in between, so: one worker process per core by default, each with a few threads so a
worker waiting on S3 or PostgreSQL still uses its core. Every value can be set from the
environment (WEB_CONCURRENCY is the convention platforms use for the worker count).
"""

import os

bind = os.environ.get(
    "GUNICORN_BIND", f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"
)
workers = int(os.environ.get("WEB_CONCURRENCY", os.cpu_count() or 1))
# gthread, with the envelope for the requests gunicorn refuses itself (bad Content-Length, …).
worker_class = "project.gunicorn_worker.EnvelopeThreadWorker"
threads = int(os.environ.get("GUNICORN_THREADS", 2))
# A 20 MiB upload over a slow link, then rendering: generous, but a stuck worker is still recycled.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 120))
graceful_timeout = 30
keepalive = 5
# Decoding large images grows a process's heap; recycle workers now and then (jittered).
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", 1000))
max_requests_jitter = max_requests // 10
# The load balancer terminates TLS; trust X-Forwarded-* only from where it connects.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# The app logs JSON lines itself (images_app.logging); gunicorn's access log is opt-in.
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
# gunicorn 25+ opens a control socket at one path per user ($XDG_RUNTIME_DIR or ~/.gunicorn):
# two instances on a host would share it (the later takes it over, stopping either removes it).
# The app is run with signals (HUP, TERM), so there is none.
control_socket_disable = True
# Heartbeat files in memory, not on a possibly slow disk (containers).
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
