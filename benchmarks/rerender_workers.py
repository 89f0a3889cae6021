"""Re-rendering throughput with one and with two Celery workers.

Goal: two workers do at least 1.8x the images per second of one, and no image is rendered twice.

    python -m benchmarks.rerender_workers [--images 60] [--size 1600x1200] [--batch-size 5]
        [--database-url postgres://postgres@127.0.0.1:5432/rerenderbench]
        [--broker redis://127.0.0.1:6379/14]

Builds a fresh PostgreSQL database and a media directory in a temporary folder, uploads
``--images`` JPEGs through the model (real renditions, real originals), then, for 1 and for 2
worker processes (``celery -A project worker -P solo``, one task at a time each): marks every
rendition of every image stale, runs ``manage.py rerender_images --celery`` and times the
workers from the first batch received to the last batch done (their own log lines). Prints
images per second for each, the ratio (goal: two workers >= 1.8x one), and the duplicate
renders counted in the workers' logs (goal: 0).
Each worker renders on one thread (``IMAGES_APP["WORKER_RENDER_THREADS"]``: no encode pool,
libvips' pool of one), so a worker is one core's worth; on a machine with fewer free cores than
workers the ratio measures the machine, not the design. So each run also prints the workers' CPU
seconds (per image: the cost to size on), the share of the machine's cores busy meanwhile
(everything, not only the workers) and the load average before and after.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import datetime
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
# Celery's log lines: "[2026-11-30 09:20:01,123: INFO/MainProcess] Task images_app.… received"
TASK_EVENT = re.compile(
    r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+): INFO/\w+\] Task images_app\.rerender_batch"
    r"\[[^\]]+\] (?:received|succeeded)",
    re.MULTILINE,
)
RENDERED = re.compile(r"images_app: image (\d+) re-rendered: (?!nothing)")  # rerender.py's log

SEED = """
import io
from PIL import Image as Picture, ImageDraw
from django.contrib.auth import get_user_model
from images_app.models import Image
owner, _ = get_user_model().objects.get_or_create(username="bench")
for n in range({count}):
    picture = Picture.new("RGB", ({width}, {height}), (n * 37 % 255, 120, 200))
    ImageDraw.Draw(picture).ellipse((n, n, {width} // 2, {height} // 2), fill=(250, n % 255, 10))
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=90)
    Image.objects.create_from_upload(owner=owner, type=0, data=buffer.getvalue())
"""

ALL_STALE = """
from dataclasses import replace
from images_app.models import Image
for image in Image.objects.all():
    image.renditions = {name: replace(entry, fingerprint="old")
                        for name, entry in image.renditions.items()}
    image.save(update_fields=["renditions"])
"""


def main() -> None:
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="rerenderbench-") as folder:
        env = environment(Path(folder), args)
        fresh_database(args.database_url)
        manage(env, "migrate", "--noinput", "-v", "0")
        width, height = (int(side) for side in args.size.split("x"))
        print(f"Seeding {args.images} uploads of {args.size} …", flush=True)
        manage(env, "shell", "-c", SEED.format(count=args.images, width=width, height=height))
        rates = {}
        for workers in (1, 2):
            manage(env, "shell", "-c", ALL_STALE)
            load = os.getloadavg()[0]
            seconds, duplicates, cpu, busy, peak = run(env, Path(folder), workers, args.batch_size)
            rates[workers] = args.images / seconds
            rate = f"{rates[workers]:.2f} images/s"
            print(f"{workers} worker(s): {args.images} images in {seconds:.1f} s = {rate}; "
                  f"duplicate renders: {duplicates}; worker CPU {cpu:.1f} s "
                  f"({1000 * cpu / args.images:.0f} ms an image, {cpu / seconds:.2f} cores); "
                  f"machine busy "
                  f"{busy:.0%} of {os.cpu_count()} cores; peak RSS a worker {peak:.0f} MiB; "
                  f"load average {load:.1f} before, "
                  f"{os.getloadavg()[0]:.1f} after", flush=True)  # fmt: skip
        ratio = rates[2] / rates[1]
        verdict = "PASS" if ratio >= 1.8 else "FAIL"
        print(f"{verdict}  2 workers / 1 worker: {ratio:.2f}x (goal >= 1.8x); load average "
              f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")  # fmt: skip


def run(env: dict[str, str], folder: Path, count: int, batch_size: int):
    """Seconds, duplicate renders, the workers' CPU seconds, the machine's busy share and the
    largest worker's peak RSS (MiB)."""
    logs = [folder / f"worker-{count}-{n}.log" for n in range(count)]
    processes = [start_worker(env, log, n) for n, log in enumerate(logs)]
    try:
        for log in logs:
            wait_ready(log)
        cpu_before, machine_before = worker_cpu(processes), machine_cpu()
        manage(env, "rerender_images", "--celery", "--batch-size", str(batch_size))
        cpu = worker_cpu(processes) - cpu_before
        peak = max(peak_rss(process) for process in processes)
        (busy, total), (busy_before, total_before) = machine_cpu(), machine_before
        busy, total = busy - busy_before, total - total_before
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=60)
    renders, moments = Counter(), []
    for log in logs:
        text = log.read_text()
        renders.update(RENDERED.findall(text))
        moments += [datetime.fromisoformat(stamp) for stamp in TASK_EVENT.findall(text)]
    # The workers' time: from the first batch received to the last one done (no process starts)
    seconds = (max(moments) - min(moments)).total_seconds()
    return seconds, sum(times - 1 for times in renders.values()), cpu, busy / total, peak


def peak_rss(process: subprocess.Popen) -> float:
    """The worker process's peak resident memory so far, in MiB (VmHWM)."""
    for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def worker_cpu(processes: list[subprocess.Popen]) -> float:
    """CPU seconds (user + system, all threads) the worker processes have used so far."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for process in processes:
        fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def machine_cpu() -> tuple[int, int]:
    """Busy and total jiffies of all cores (/proc/stat), to tell how loaded the machine was."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle, iowait
    return sum(values) - idle, sum(values)


def start_worker(env: dict[str, str], log: Path, n: int) -> subprocess.Popen:
    command = [sys.executable, "-m", "celery", "-A", "project", "worker", "-P", "solo",
               "-l", "info", "-Q", env["CELERY_TASK_DEFAULT_QUEUE"], "-n", f"bench{n}@%h",
               "--without-gossip", "--without-mingle", "--without-heartbeat"]  # fmt: skip
    with log.open("w") as out:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def wait_ready(log: Path, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while " ready." not in log.read_text():
        if time.monotonic() > deadline:
            sys.exit(f"a worker did not start:\n{log.read_text()}")
        time.sleep(0.2)


def environment(folder: Path, args) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "AWS_STORAGE"))}
    env.update(
        DATABASE_URL=args.database_url,
        MEDIA_ROOT=str(folder / "media"),
        CELERY_BROKER_URL=args.broker,
        CELERY_TASK_DEFAULT_QUEUE=f"rerenderbench-{uuid.uuid4().hex[:8]}",
        DJANGO_LOG_LEVEL="INFO",
        DJANGO_LOG_FORMAT="text",
    )
    return env


def fresh_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env,
                            capture_output=True, text=True)  # fmt: skip
    if result.returncode:
        sys.exit(f"manage.py {' '.join(args)} failed:\n{result.stderr}")
    return result.stdout


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=60)
    parser.add_argument("--size", default="1600x1200", help="WxH of each upload")
    parser.add_argument("--batch-size", type=int, default=5)
    parser.add_argument(
        "--database-url", default="postgres://postgres@127.0.0.1:5432/rerenderbench"
    )
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/14")
    return parser.parse_args()


if __name__ == "__main__":
    main()
