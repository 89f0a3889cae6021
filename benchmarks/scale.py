"""Scale benchmark (``make scalebench``): what staff and cron run, at 100k rows and beyond.

    python -m benchmarks.scale [--rows 100000] [--storages filesystem s3] [--s3-images 20000]
                               [--database-url postgres://postgres@127.0.0.1:5432/scalebench]

Builds a fresh database (PostgreSQL by default; ``--database-url sqlite`` for a temporary file),
seeds ``--rows`` image rows over skewed owners and their objects (``seed.py``: COPY, files and
moto keys written directly, no uploads), then measures each figure that has a scale goal and
prints it against that goal:

- the admin image list, unfiltered and filtered, and a search by id;
- ``GET /api/images/`` of the biggest shop: first, middle and last page by page number, and a
  walk of every page with ``?cursor=``; the SQL share of each, and the cost of its URLs;
- ``manage.py sweep_storage`` in a child process: wall time, peak RSS, LIST calls per 1000
  objects on S3 (counted at the S3 endpoint);
- deleting the biggest shop's user from the admin (request time, files queued or gone).

Requests go through Django's test client in this process: "server time" without a network.
S3 is moto's server on a loopback port, fed in-process; moto keeps every key in Python objects
(~3 MiB and ~1 ms per thousand keys here), so by default S3 holds the objects of the first
``--s3-images`` images only (the sweep's calls per 1000 objects do not depend on the count).

Adding a figure: write ``def measure_x(bench: Bench) -> Iterator[Figure]`` and decorate it with
``@measurement``; it runs after the others, in the order defined (e.g. a re-render run with one
worker, then two, reporting images/s and the ratio against the 1.8x goal).
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs

ROOT = Path(__file__).resolve().parent.parent
LOOPBACK = "127.0.0.1"
MiB = 1024 * 1024


# -- Figures and goals -------------------------------------------------------------------------


@dataclass
class Figure:
    what: str
    storage: str
    value: float
    unit: str
    goal: float | None = None  # the value must be <= goal
    note: str = ""

    @property
    def verdict(self) -> str:
        if self.goal is None:
            return "info"
        return "PASS" if self.value <= self.goal else "FAIL"

    def row(self) -> str:
        goal = "" if self.goal is None else f"≤ {self.goal:g} {self.unit}"
        value = f"{self.value:,.1f}" if self.value < 1000 else f"{self.value:,.0f}"
        return (
            f"| {self.what} | {self.storage} | {value} {self.unit} | {goal} | "
            f"{self.verdict} | {self.note} |"
        )


MEASUREMENTS: list[Callable[[Bench], Iterator[Figure]]] = []


def measurement(function: Callable[[Bench], Iterator[Figure]]):
    """Register a figure-producing step; steps run in the order they are defined."""
    MEASUREMENTS.append(function)
    return function


# -- The S3 endpoint, counting what reaches it --------------------------------------------------


class CountingS3:
    """moto's S3 server on a loopback port, counting requests by kind (LIST, DELETE, HEAD...)."""

    def __init__(self):
        import logging

        from moto.server import DomainDispatcherApplication, create_backend_app
        from werkzeug.serving import make_server

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()
        app = DomainDispatcherApplication(create_backend_app)

        def counted(environ, start_response):
            with self._lock:
                self.calls[self.kind(environ)] += 1
            return app(environ, start_response)

        self.server = make_server(LOOPBACK, 0, counted, threaded=True)
        self.endpoint = f"http://{LOOPBACK}:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @staticmethod
    def kind(environ) -> str:
        method = environ["REQUEST_METHOD"]
        query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        if method == "GET" and ("list-type" in query or environ["PATH_INFO"].count("/") <= 1):
            return "LIST"
        if method == "POST" and "delete" in query:
            return "DeleteObjects"
        return method

    def snapshot(self) -> Counter[str]:
        with self._lock:
            return Counter(self.calls)


# -- The run ------------------------------------------------------------------------------------


@dataclass
class Bench:
    args: argparse.Namespace
    media: Path
    s3: CountingS3 | None
    bucket: str
    env: dict[str, str]
    big_shops: list[int] = field(default_factory=list)
    objects: dict[str, int] = field(default_factory=dict)
    figures: list[Figure] = field(default_factory=list)

    def storage_config(self, name: str) -> dict:
        if name == "filesystem":
            return {
                "BACKEND": "django.core.files.storage.FileSystemStorage",
                "OPTIONS": {"location": str(self.media), "base_url": "/media/"},
            }
        return {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": self.bucket,
                "endpoint_url": self.s3.endpoint,
                "region_name": "us-east-1",
                "addressing_style": "path",
                "querystring_auth": False,  # durable URLs, no custom domain: the costly case
                "default_acl": None,
                "file_overwrite": True,
            },
        }

    def storage_env(self, name: str) -> dict[str, str]:
        """What a cron job's environment would hold for this storage."""
        if name == "filesystem":
            return {**self.env, "MEDIA_ROOT": str(self.media)}
        return {
            **self.env,
            "AWS_STORAGE_BUCKET_NAME": self.bucket,
            "AWS_S3_ENDPOINT_URL": self.s3.endpoint,
            "AWS_S3_REGION_NAME": "us-east-1",
            "AWS_S3_ADDRESSING_STYLE": "path",
        }

    def keys_under(self, name: str, prefix: str) -> list[str]:
        if name == "filesystem":
            root = self.media / prefix
            return [str(path) for path in root.rglob("*") if path.is_file()]
        import boto3

        client = boto3.client("s3", endpoint_url=self.s3.endpoint, region_name="us-east-1")
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        return [item["Key"] for page in pages for item in page.get("Contents", [])]

    def using(self, name: str):
        from django.conf import settings
        from django.test.utils import override_settings

        return override_settings(
            STORAGES={**settings.STORAGES, "images": self.storage_config(name)}
        )


def timed(call: Callable[[], object], runs: int) -> tuple[float, float, object]:
    """Median wall and CPU seconds of ``runs`` calls after one warm-up, and the last result.

    CPU is this process's own (the app's); wall adds the database's time and, on a busy
    machine, the wait for a core.
    """
    result = call()
    walls, cpus = [], []
    for _ in range(runs):
        start, cpu = time.perf_counter(), time.process_time()
        result = call()
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus), result


def admin_client():
    from django.contrib.auth import get_user_model
    from django.test import Client

    user, _ = get_user_model().objects.get_or_create(
        username="bench-admin", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client()
    client.force_login(user)
    return client


def api_client(owner_id: int):
    from datetime import timedelta

    from django.utils import timezone
    from oauth2_provider.models import get_access_token_model, set_token_value
    from rest_framework.test import APIClient

    token = secrets.token_urlsafe(24)
    stored = get_access_token_model()(
        user_id=owner_id, scope="images", expires=timezone.now() + timedelta(hours=4)
    )
    set_token_value(stored, token)  # stored as django-oauth-toolkit stores it (hashed)
    stored.save()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_X_API_VERSION="12")
    return client


def get_ok(client, url: str, **query):
    response = client.get(url, query)
    if response.status_code != 200:
        raise SystemExit(f"GET {url} {query}: {response.status_code} {response.content[:300]!r}")
    return response


# -- Measurements -------------------------------------------------------------------------------

ADMIN = "/admin/images_app/image/"
ADMIN_GOAL = 0.5  # seconds
API_GOAL = 50.0  # milliseconds of server time per page
DELETE_GOAL = 30.0  # seconds of request time
SWEEP_MEMORY_HEADROOM = 64  # MiB over a bare `manage.py check` child


@measurement
def measure_admin(bench: Bench) -> Iterator[Figure]:
    from images_app.models import Image

    client = admin_client()
    some = Image.objects.order_by("pk").values_list("pk", flat=True)[bench.args.rows // 2]
    middle = max(1, bench.args.rows // 60 // 2)
    pages = {
        "admin list, unfiltered": ({}, ADMIN_GOAL),
        "admin search by id": ({"q": str(some)}, ADMIN_GOAL),
        "admin search by username": ({"q": "owner-00012"}, ADMIN_GOAL),
        "admin list, owner filter (biggest shop)": ({"owner": bench.big_shops[0]}, ADMIN_GOAL),
        "admin list, format filter (HEIF)": ({"format": "HEIF"}, ADMIN_GOAL),
        "admin list, sorted by size": ({"o": "6"}, ADMIN_GOAL),
        f"admin list, page {middle} (the middle)": ({"p": str(middle)}, ADMIN_GOAL),
    }
    for storage in bench.args.storages:
        with bench.using(storage):
            for what, (query, goal) in pages.items():
                seconds, cpu, response = timed(lambda q=query: get_ok(client, ADMIN, **q), 5)
                note = f"app CPU {cpu:.2f} s; {len(response.content) / 1024:.0f} KiB page"
                yield Figure(what, storage, seconds, "s", goal, note)


@measurement
def measure_api_pages(bench: Bench) -> Iterator[Figure]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    shop = bench.big_shops[0]
    client = api_client(shop)
    count = get_ok(client, "/api/images/").json()["count"]
    last = max(1, -(-count // 50))
    for storage in bench.args.storages:
        with bench.using(storage):
            for label, page in (("first", 1), ("middle", last // 2 or 1), ("last", last)):
                seconds, cpu, _ = timed(lambda p=page: get_ok(client, "/api/images/", page=p), 5)
                with CaptureQueriesContext(connection) as queries:
                    get_ok(client, "/api/images/", page=page)
                sql = sum(float(q["time"]) for q in queries.captured_queries) * 1000
                note = f"page {page} of {last}, 50 images; app CPU {cpu * 1000:.1f} ms, "
                note += f"SQL {sql:.1f} ms"
                yield Figure(f"API page-number, {label} page", storage, seconds * 1000, "ms",
                             API_GOAL, note)  # fmt: skip
            yield from cursor_walk(client, storage)


def cursor_walk(client, storage: str) -> Iterator[Figure]:
    """Every page of the shop with ?cursor= at 200 a page: first, middle, last and p95."""
    samples, url, images = [], "/api/images/?cursor=&page_size=200", 0
    while url:
        start = time.perf_counter()
        page = get_ok(client, url).json()
        samples.append((time.perf_counter() - start) * 1000)
        images += len(page["results"])
        url = page["next"]
    pages = len(samples)
    marks = {"first": samples[0], "middle": samples[pages // 2], "last": samples[-1]}
    for label, value in marks.items():
        yield Figure(f"API cursor, {label} page", storage, value, "ms", API_GOAL * 4,
                     "200 images a page (4 pages' worth: goal x4)")  # fmt: skip
    p95 = statistics.quantiles(samples, n=20)[-1] if pages > 1 else samples[0]
    yield Figure("API cursor walk, p95 page", storage, p95, "ms", API_GOAL * 4,
                 f"{pages} pages, {images} images, {sum(samples) / 1000:.1f} s in all")  # fmt: skip


@measurement
def measure_urls(bench: Bench) -> Iterator[Figure]:
    """What a 50-image page's URLs cost: storage.url() per key vs the learned base URL."""
    from images_app.models import Image
    from images_app.storage import file_url, get_storage

    images = list(Image.objects.filter(owner_id=bench.big_shops[0])[:50])
    keys = [key for image in images for key in image.stored_keys()]
    for storage in bench.args.storages:
        with bench.using(storage):
            backend = get_storage()
            _, slow, _ = timed(lambda b=backend: [b.url(key) for key in keys], 5)
            _, fast, _ = timed(lambda b=backend: [file_url(b, key) for key in keys], 5)
            note = f"{len(keys)} URLs; storage.url() for each: {slow * 1000:.1f} ms"
            yield Figure("URLs of a 50-image page (CPU)", storage, fast * 1000, "ms", None, note)


# The child reports its own peak RSS (VmHWM) as it exits. getrusage() would not do: across
# fork and exec Linux keeps the parent's peak in ru_maxrss, and this parent holds the seed.
PEAK_RSS = """
import atexit, runpy, sys
def peak():
    status = open("/proc/self/status").read()
    print("VmHWM", status.split("VmHWM:")[1].split()[0], file=sys.stderr)
atexit.register(peak)
sys.argv = ["manage.py", *sys.argv[1:]]
runpy.run_path("manage.py", run_name="__main__")
"""


def run_child(env: dict, *command: str, timeout: float) -> tuple[float, float, int]:
    """(wall s, peak RSS MiB, exit status) of ``manage.py <command>`` in a child process."""
    start = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-c", PEAK_RSS, *command], cwd=ROOT, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        _, errors = child.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        child.kill()
        _, errors = child.communicate()
    lines = errors.decode(errors="replace").splitlines()
    peaks = [line.split()[1] for line in lines if line.startswith("VmHWM ")]
    if child.returncode not in (0, -9):
        print("\n".join(lines[-20:]), file=sys.stderr)
    peak = int(peaks[-1]) / 1024 if peaks else float("nan")
    return time.perf_counter() - start, peak, child.returncode


@measurement
def measure_sweep(bench: Bench) -> Iterator[Figure]:
    _, baseline, _ = run_child(bench.storage_env("filesystem"), "check", timeout=120)
    goal = round(baseline + SWEEP_MEMORY_HEADROOM)
    for storage in bench.args.storages:
        before = bench.s3.snapshot() if bench.s3 else Counter()
        env = bench.storage_env(storage)
        command = ("sweep_storage", "--older-than", "0")
        seconds, rss, code = run_child(env, *command, timeout=bench.args.step_timeout)
        stopped = f"STOPPED at {bench.args.step_timeout:g} s; " if code == -9 else ""
        objects = bench.objects[storage]
        yield Figure("sweep_storage, wall time", storage, seconds, "s", None,
                     f"{stopped}{objects:,} objects")  # fmt: skip
        yield Figure("sweep_storage, peak RSS", storage, rss, "MiB", goal,
                     f"a bare manage.py check: {baseline:.0f} MiB")  # fmt: skip
        if bench.s3 and storage == "s3":
            calls = bench.s3.snapshot() - before
            per_1000 = calls["LIST"] / -(-objects // 1000)  # a last, partial page counts whole
            note = ", ".join(f"{kind} {n:,}" for kind, n in sorted(calls.items()))
            yield Figure("sweep_storage, LIST calls per 1000 objects", storage, per_1000, "", 1,
                         f"{stopped}{note}")  # fmt: skip


@measurement
def measure_delete_user(bench: Bench) -> Iterator[Figure]:
    """Delete the biggest shop's user from the admin, on the last storage of the run."""
    from images_app.models import Image, PendingDeletion

    storage, shop = bench.args.storages[-1], bench.big_shops[0]
    client, url = admin_client(), f"/admin/auth/user/{shop}/delete/"
    images = Image.objects.filter(owner_id=shop).count()
    with bench.using(storage):
        start = time.perf_counter()
        confirm = get_ok(client, url)
        seconds = time.perf_counter() - start
        yield Figure("admin delete-user confirmation page", storage, seconds, "s", ADMIN_GOAL,
                     f"{images:,} images, {len(confirm.content) / 1024:.0f} KiB page")  # fmt: skip
        start = time.perf_counter()
        response = client.post(url, {"post": "yes"})
        seconds = time.perf_counter() - start
    left = Image.objects.filter(owner_id=shop).count()
    queued = PendingDeletion.objects.count()
    with bench.using(storage):
        files = len(bench.keys_under(storage, f"uploads/{shop}/"))
    note = f"HTTP {response.status_code}; {images:,} images: {left} rows left, {queued:,} keys "
    note += f"queued, {files:,} files left right after the request"
    yield Figure("admin delete a big shop's user", storage, seconds, "s", DELETE_GOAL, note)


# -- Setting up ---------------------------------------------------------------------------------


def fresh_database(url: str) -> str:
    """Drop and create the database named in a PostgreSQL URL; SQLite: a temporary file."""
    if url == "sqlite":
        return f"sqlite:///{tempfile.mkdtemp(prefix='scalebench-')}/db.sqlite3"
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')
    return url


def configure(args: argparse.Namespace) -> Bench:
    work = Path(tempfile.mkdtemp(prefix="scalebench-"))
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "project.settings",
        "DATABASE_URL": fresh_database(args.database_url),
        "DJANGO_DEBUG": "1",
        "DJANGO_LOG_LEVEL": "WARNING",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    env.pop("AWS_STORAGE_BUCKET_NAME", None)
    # Seeding a million rows (COPY, VACUUM) outlasts the 30 s statement timeout production
    # keeps; the children (sweep_storage) run with the production default, as cron would.
    os.environ.update(env, DATABASE_STATEMENT_TIMEOUT="0")
    s3 = CountingS3() if "s3" in args.storages else None
    bench = Bench(args, work / "media", s3, f"scalebench-{secrets.token_hex(4)}", env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.conf import settings

    settings.DEBUG = False  # no query log: measure what production runs
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    return bench


def seed(bench: Bench) -> None:
    from django.core.management import call_command

    from . import seed as seeding

    step = Stopwatch()
    call_command("migrate", verbosity=0)
    plan = seeding.Plan.for_rows(bench.args.rows)
    bench.big_shops, small = seeding.seed_users(plan)
    inserted = seeding.insert_rows(seeding.image_rows(plan, bench.big_shops, small))
    seeding.analyse()
    step.say(f"{inserted:,} rows: {plan.big} shop(s) of {plan.big_size:,}, {plan.small:,} owners")
    if bench.args.rows_only:
        return
    orphans = max(1, bench.args.rows // 100)
    if "filesystem" in bench.args.storages:
        files = seeding.write_files(bench.media, seeding.stored_keys())
        files += seeding.write_files(bench.media, seeding.orphan_keys(orphans))
        bench.objects["filesystem"] = files
        step.say(f"{files:,} files (orphans: {orphans:,} images' worth)")
    if bench.s3:
        import boto3

        boto3.client("s3", endpoint_url=bench.s3.endpoint, region_name="us-east-1").create_bucket(
            Bucket=bench.bucket
        )
        limit = min(bench.args.rows, bench.args.s3_images)
        keys = seeding.put_objects(bench.bucket, seeding.stored_keys(limit))
        keys += seeding.put_objects(bench.bucket, seeding.orphan_keys(max(1, limit // 100)))
        bench.objects["s3"] = keys
        step.say(f"{keys:,} S3 keys (the first {limit:,} images' and orphans)")


class Stopwatch:
    def __init__(self):
        self.start = time.perf_counter()

    def say(self, text: str) -> None:
        print(f"[{time.perf_counter() - self.start:7.1f} s] {text}", flush=True)


def report(bench: Bench, seconds: float) -> None:
    from django.db import connection

    print(f"\n## Scale benchmark: {bench.args.rows:,} rows on {connection.vendor}")
    print(f"\n{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {seconds:.0f} s, "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} at the end\n")  # fmt: skip
    print("| figure | storage | measured | goal | verdict | notes |")
    print("| --- | --- | ---: | --- | --- | --- |")
    for figure in bench.figures:
        print(figure.row())


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument(
        "--storages", nargs="+", choices=["filesystem", "s3"], default=["filesystem", "s3"]
    )
    parser.add_argument("--s3-images", type=int, default=20_000,
                        help="images whose objects go to S3 (moto: in memory)")  # fmt: skip
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/scalebench",
                        help="a PostgreSQL URL (dropped and re-created) or 'sqlite'")  # fmt: skip
    parser.add_argument("--step-timeout", type=float, default=900,
                        help="seconds before a child step (the sweep) is stopped")  # fmt: skip
    parser.add_argument("--only", nargs="*", help="run only these measurements (by name)")
    parser.add_argument("--rows-only", action="store_true",
                        help="seed no objects (enough for: admin api_pages urls)")  # fmt: skip
    parser.add_argument("--strict", action="store_true", help="exit 1 when a goal is missed")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    started = time.perf_counter()
    bench = configure(args)
    seed(bench)
    clock = Stopwatch()
    for step in MEASUREMENTS:
        name = step.__name__.removeprefix("measure_")
        if args.only and name not in args.only:
            continue
        for figure in step(bench):
            bench.figures.append(figure)
            clock.say(f"{figure.what} [{figure.storage}]: {figure.value:,.1f} {figure.unit} "
                      f"{figure.verdict}")  # fmt: skip
    report(bench, time.perf_counter() - started)
    missed = [figure for figure in bench.figures if figure.verdict == "FAIL"]
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
