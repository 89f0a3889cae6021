"""``tasks.py`` with real Celery workers: ``rerender_images --celery`` and a big user's deletion
from the admin, against Redis.

Worker processes (``celery -A project worker``) and the command run as the project ships, on
their own database (SQLite; a fresh PostgreSQL database when ``DATABASE_URL`` points at
PostgreSQL) and media directory, with Redis on 127.0.0.1:6379 as the broker (a database number
and a queue name of their own, so nothing else's tasks mix in).
"""

import json
import math
import os
import re
import subprocess
import sys
import time
import uuid
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from .live import ROOT, Site, manage

pytestmark = pytest.mark.live  # worker processes and the command, each a child process

REDIS_DB = 13
IMAGES = 12

SEED = """
import io, json
from PIL import Image as Picture
from django.contrib.auth import get_user_model
from images_app.models import Image
owner = get_user_model().objects.get(username="live")
ids = []
for n in range({count}):
    buffer = io.BytesIO()
    Picture.new("RGB", (64 + n, 48), (n * 20 % 255, 90, 160)).save(buffer, "JPEG")
    ids.append(Image.objects.create_from_upload(owner=owner, type=0, data=buffer.getvalue()).pk)
print(json.dumps(ids))
"""

MAKE_STALE = """
from images_app.models import Image
from dataclasses import replace
for image in Image.objects.filter(pk__in={ids}):
    thumb = replace(image.renditions["thumb"], fingerprint="old")
    image.renditions = {{**image.renditions, "thumb": thumb}}
    image.save(update_fields=["renditions"])
"""


def seed(site: Site, count: int) -> list[int]:
    """``count`` uploads through the model, made stale; their ids."""
    ids = json.loads(manage(site.env, "shell", "-c", SEED.format(count=count)).splitlines()[-1])
    manage(site.env, "shell", "-c", MAKE_STALE.format(ids=ids))
    return ids


@pytest.fixture
def database(tmp_path):
    """The site's database: SQLite, or a fresh one on the suite's PostgreSQL server."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        yield f"sqlite:///{tmp_path / 'db.sqlite3'}"
        return
    server = urlunsplit(urlsplit(url)._replace(path="/postgres"))
    name = f"images_tasks_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield urlunsplit(urlsplit(server)._replace(path=f"/{name}"))
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def site(tmp_path, database):
    queue = f"test-{uuid.uuid4().hex[:10]}"
    return Site.create(
        tmp_path,
        DATABASE_URL=database,
        CELERY_BROKER_URL=f"redis://127.0.0.1:6379/{REDIS_DB}",
        CELERY_TASK_DEFAULT_QUEUE=queue,
        DJANGO_LOG_LEVEL="INFO",
    )


@contextmanager
def workers(site: Site, count: int):
    """``count`` worker processes, one task at a time each; their log files."""
    logs, processes = [], []
    for n in range(count):
        log = site.root / f"worker{n}.log"
        command = [sys.executable, "-m", "celery", "-A", "project", "worker", "-P", "solo",
                   "-Q", site.env["CELERY_TASK_DEFAULT_QUEUE"], "-n", f"w{n}@%h", "-l", "info",
                   "--without-gossip", "--without-mingle", "--without-heartbeat"]  # fmt: skip
        with log.open("w") as out:
            processes.append(subprocess.Popen(command, cwd=ROOT, env=site.env, stdout=out,
                                              stderr=subprocess.STDOUT))  # fmt: skip
        logs.append(log)
    try:
        for log, process in zip(logs, processes, strict=True):
            wait_for(lambda log=log: " ready." in log.read_text(), process, log)
        yield logs
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=60)


def wait_for(condition, process, log: Path, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"the worker did not start:\n{log.read_text()}")
        time.sleep(0.2)


def rerendered(logs: list[Path]) -> list[Counter[int]]:
    """Per worker: how often each image id was re-rendered (rerender.py logs each one)."""
    pattern = re.compile(r"images_app: image (\d+) re-rendered: (?!nothing)")
    return [Counter(int(pk) for pk in pattern.findall(log.read_text())) for log in logs]


def test_two_workers_share_the_batches_and_render_each_image_once(site):
    ids = seed(site, IMAGES)

    with workers(site, 2) as logs:
        out = manage(site.env, "rerender_images", "--celery", "--batch-size", "3",
                     "--progress-every", "0")  # fmt: skip
        again = manage(site.env, "rerender_images", "--celery", "--batch-size", "3")

    assert f"{IMAGES} stale images queued in 4 batches." in out
    assert "batches done by the workers" in out  # progress while the workers run
    assert f"{IMAGES} images checked, {IMAGES} updated (thumb: {IMAGES}), 0 failed." in out
    per_worker = rerendered(logs)
    total = sum(per_worker, Counter())
    assert sorted(total) == sorted(ids) and set(total.values()) == {1}  # each image once
    assert all(per_worker), "both workers took batches"
    assert "0 stale images queued in 0 batches." in again  # a re-run finds nothing left
    for log in logs:  # the worker process is the unit of parallelism: one thread each
        assert "renders on 1 thread(s) (libvips too)" in log.read_text()


RUN_TWICE = """
from images_app.tasks import rerender_batch
first, second = rerender_batch.delay({ids}), rerender_batch.delay({ids})
print(first.get(timeout=120)["updated"], second.get(timeout=120)["updated"])
"""


def test_a_batch_delivered_twice_does_its_work_once(site):
    ids = seed(site, 3)

    with workers(site, 1) as logs:
        updated = manage(site.env, "shell", "-c", RUN_TWICE.format(ids=ids)).split()[-2:]

    assert updated == ["3", "0"]
    assert rerendered(logs)[0] == Counter(dict.fromkeys(ids, 1))


DELETE_FROM_ADMIN = """
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client, override_settings
from images_app.deletion import PendingDeletion
users = get_user_model().objects
client = Client(HTTP_HOST="localhost")
client.force_login(users.create_superuser("staff", password="unused-" + "x" * 20))
doomed = users.get(username="live")
with override_settings(IMAGES_APP={{**settings.IMAGES_APP, "DELETE_INLINE_FILES": {inline}}}):
    answer = client.post(f"/admin/auth/user/{{doomed.pk}}/delete/", {{"post": "yes"}})
print(answer.status_code, PendingDeletion.objects.count())
"""
QUEUED = "from images_app.deletion import PendingDeletion; print(PendingDeletion.objects.count())"
OWNER_ID = (
    "from django.contrib.auth.models import User; print(User.objects.get(username='live').pk)"
)
BYSTANDER = SEED.replace(
    'owner = get_user_model().objects.get(username="live")',
    'owner = get_user_model().objects.create_user("bystander")',
).format(count=1)
TASK_DONE = re.compile(r"Task images_app\.delete_queued_files\[[^\]]+\] succeeded")


def files(folder: Path) -> set[Path]:
    return {path for path in folder.rglob("*") if path.is_file()}


def test_a_big_user_deleted_from_the_admin_has_the_rest_of_their_files_deleted_by_a_worker(site):
    seed(site, 10)
    manage(site.env, "shell", "-c", BYSTANDER)
    media = Path(site.env["MEDIA_ROOT"])
    owner = manage(site.env, "shell", "-c", OWNER_ID).split()[-1]
    theirs = files(media / "uploads" / owner)
    kept = files(media) - theirs
    inline = 12

    answer = manage(site.env, "shell", "-c", DELETE_FROM_ADMIN.format(inline=inline))
    status, queued = answer.split()[-2:]
    assert status == "302"
    assert int(queued) == len(theirs) - inline  # after the request: the rest is queued
    assert len(files(media) - kept) == len(theirs) - inline  # and waits for a worker

    with workers(site, 1) as logs:
        deadline = time.monotonic() + 120
        while files(media) != kept and time.monotonic() < deadline:
            time.sleep(0.2)
        left = manage(site.env, "shell", "-c", QUEUED).split()[-1]

    assert files(media) == kept  # then every file of theirs went, and nobody else's
    assert left == "0"  # and off the queue
    done = TASK_DONE.findall(logs[0].read_text())
    assert len(done) == math.ceil((len(theirs) - inline) / inline)  # DELETE_INLINE_FILES a task
