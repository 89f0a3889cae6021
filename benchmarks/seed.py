"""Seeding for ``make scalebench``: N image rows over skewed owners, and their objects, fast.

Rows go in with one COPY on PostgreSQL (an executemany elsewhere), not through the model: the
model's save hook renders and uploads, which is what a million rows must not cost. Objects are
written straight to the storages' back ends (files into the directory, keys into moto's
in-process S3 back end), one byte each: the sweep lists and deletes keys, it never reads them.

Owners are skewed as a real store is: a few shops with ``BIG_SHOP`` images each, most owners
with tens. Formats and types are mixed the way phones and back offices send them.
"""

from __future__ import annotations

import json
import os
import random
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

BIG_SHOP = 50_000
SMALL_OWNER_IMAGES = 40  # on average: "most with tens"
FORMATS = [("JPEG", "jpg", 90), ("PNG", "png", 5), ("HEIF", "heic", 3), ("WEBP", "webp", 1)]
FORMATS += [("GIF", "gif", 1)]
TYPES = ["product", "account", "user", "category"]
COLUMNS = (
    "owner_id",
    "type",
    "key_prefix",
    "original_key",
    "format",
    "width",
    "height",
    "bytes",
    "checksum",
    "renditions",
    "created",
)


@dataclass(frozen=True)
class Plan:
    """How ``rows`` images are spread: ``big`` shops of ``big_size``, the rest over ``small``."""

    rows: int
    big: int
    big_size: int
    small: int

    @classmethod
    def for_rows(cls, rows: int) -> Plan:
        big_size = min(BIG_SHOP, rows // 2)
        big = max(1, rows // (20 * BIG_SHOP))  # 1M rows: 1 big shop per 20 images in a thousand
        rest = rows - big * big_size
        return cls(rows, big, big_size, max(1, rest // SMALL_OWNER_IMAGES))


def seed_users(plan: Plan) -> tuple[list[int], list[int]]:
    """Create the owners; return (big shop ids, small owner ids)."""
    from django.contrib.auth import get_user_model

    User = get_user_model()
    big = [User(username=f"shop-big-{n}", password="!") for n in range(1, plan.big + 1)]
    small = [User(username=f"owner-{n:06d}", password="!") for n in range(1, plan.small + 1)]
    User.objects.bulk_create(big + small, batch_size=5000)
    ids = dict(User.objects.values_list("username", "pk"))
    return [ids[user.username] for user in big], [ids[user.username] for user in small]


def image_rows(plan: Plan, big: list[int], small: list[int], seed: int = 12) -> Iterator[tuple]:
    """Row tuples in COLUMNS order, newest images spread over the last two years."""
    from images_app.specs import rendition_specs

    rng = random.Random(seed)
    specs = rendition_specs()
    owners = [owner for owner in big for _ in range(plan.big_size)]
    owners += [rng.choice(small) for _ in range(plan.rows - len(owners))]
    rng.shuffle(owners)
    now = datetime.now(UTC)
    formats = rng.choices(FORMATS, weights=[weight for *_, weight in FORMATS], k=len(owners))
    for owner, (fmt, extension, _) in zip(owners, formats, strict=True):
        width, height = rng.choice([(4032, 3024), (3024, 4032), (1600, 1200), (800, 800)])
        prefix = f"uploads/{owner}/{rng.choice(TYPES)}/{secrets.token_urlsafe(18)}"
        renditions = {}
        for spec in specs:
            w, h = spec.target_size(width, height)
            out = "png" if fmt == "PNG" else "jpg"
            renditions[spec.name] = {
                "key": f"{prefix}/{spec.name}.{out}",
                "width": w,
                "height": h,
                "format": "PNG" if out == "png" else "JPEG",
                "bytes": w * h // 8,
                "fingerprint": spec.fingerprint,
            }
        created = now - timedelta(seconds=rng.randrange(2 * 365 * 86400))
        yield (
            owner,
            TYPES.index(prefix.split("/")[2]),
            prefix,
            f"{prefix}/original.{extension}",
            fmt,
            width,
            height,
            width * height // 4 + rng.randrange(100_000),  # file sizes vary, pixel sizes less
            "0" * 64,
            json.dumps(renditions),
            created,
        )


def insert_rows(rows: Iterator[tuple]) -> int:
    """COPY on PostgreSQL, executemany in batches elsewhere; returns the number inserted."""
    from django.db import connection

    from images_app.models import Image

    table, columns = Image._meta.db_table, ", ".join(COLUMNS)
    count = 0
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
                    count += 1
            return count
        sql = f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * len(COLUMNS))})"
        batch = []
        for row in rows:
            batch.append(row)
            if len(batch) == 5000:
                cursor.executemany(sql, batch)
                count, batch = count + len(batch), []
        cursor.executemany(sql, batch)
        return count + len(batch)


def analyse() -> None:
    """Fresh planner statistics and visibility map, as autovacuum leaves a live table."""
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("VACUUM ANALYZE")
        else:
            cursor.execute("ANALYZE")


def stored_keys(limit: int | None = None) -> Iterator[str]:
    """Every key the rows reference, in id order; ``limit``: of the first ``limit`` images."""
    from images_app.models import Image

    rows = Image.objects.order_by("pk").values_list("original_key", "renditions")
    for original, renditions in rows[:limit].iterator(chunk_size=5000):
        yield original
        yield from (entry.key for entry in renditions.values())


def orphan_keys(count: int) -> Iterator[str]:
    """``count`` images' worth of files no row references (an upload that died mid-way)."""
    for n in range(count):
        prefix = f"uploads/{900_000_000 + n}/product/{secrets.token_urlsafe(18)}"
        yield from (f"{prefix}/{name}.jpg" for name in ("original", "thumb", "ipad"))


def write_files(root: Path, keys: Iterator[str]) -> int:
    count = 0
    made: set[str] = set()
    for key in keys:
        folder = os.path.join(root, os.path.dirname(key))
        if folder not in made:
            os.makedirs(folder, exist_ok=True)
            made.add(folder)
        with open(os.path.join(root, key), "wb") as handle:
            handle.write(b"x")
        count += 1
    return count


def put_objects(bucket: str, keys: Iterator[str]) -> int:
    """Keys straight into moto's in-process S3 back end (no HTTP, no signing)."""
    from moto.s3.models import s3_backends

    backend = s3_backends["123456789012"]["aws"]
    count = 0
    for key in keys:
        backend.put_object(bucket, key, b"x", disable_notification=True)
        count += 1
    return count
