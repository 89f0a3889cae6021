"""The methods, as they run inside a measurement's child process.

A method's ``setup`` does the imports and configuration (Django settings, a database,
storage), ``prepare`` does the per-input work that is not measured (put the source in storage,
build a request body) and returns a ``Job``: ``run`` is the measured call, ``collect`` then
reads the outputs it made, unmeasured. Everything is stated in ``definition``, printed with
the table.
"""

from __future__ import annotations

import http.client
import importlib
import io
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from PIL import Image

from .quality import LANCZOS, RENDITIONS, target_sizes

FORMATS = ("JPEG", "PNG", "GIF", "WEBP")
MAX_PIXELS = 60_000_000
QUALITY = 85
# Encoder settings shared by every JPEG method: q85, 4:2:0, baseline, no optimize pass
# (the renderer's own settings; libraries are configured to match where they allow it).
JPEG_OPTIONS = {"quality": QUALITY, "subsampling": 2, "progressive": False, "optimize": False}
PNG_FLOOR_LEVEL = 6

Outputs = list[tuple[str, bytes]]


class Unavailable(Exception):
    """The method cannot run on this machine (a package, an engine or a tool is missing)."""


@dataclass
class Context:
    """What the parent tells a child about its measurement."""

    input: str
    workdir: Path
    refs: Path | None = None  # the input's reference renditions, <name>.png
    options: dict = field(default_factory=dict)


@dataclass
class Job:
    run: Callable[[], Any]
    collect: Callable[[Any], Outputs] = lambda outputs: outputs


class Method:
    name = ""
    definition = ""
    inputs: tuple[str, ...] = ("jpeg12",)

    def setup(self, ctx: Context) -> None:
        self.ctx = ctx

    def prepare(self, data: bytes, label: str) -> Job:
        raise NotImplementedError


class Floor(Method):
    name = "floor"
    definition = (
        "Pillow decodes the source once at full size (no draft, one thread), then encodes the "
        "five renditions at their final sizes, one after another: JPEG q85 4:2:0 baseline for "
        f"opaque sources, PNG compress_level={PNG_FLOOR_LEVEL} for transparent ones. The "
        "rendition pixels are the PSNR references, made before timing: no resize is timed."
    )
    inputs = ("jpeg12", "jpeg24", "chart12", "png4")

    def prepare(self, data: bytes, label: str) -> Job:
        references = self._references(data, label)

        def run() -> Outputs:
            with Image.open(io.BytesIO(data)) as image:
                image.load()
            return [(name, _encode_floor(reference)) for name, reference in references.items()]

        return Job(run)

    def _references(self, data: bytes, label: str) -> dict[str, Image.Image]:
        if label == "main" and self.ctx.refs is not None:
            references = {}
            for name in RENDITIONS:
                with Image.open(self.ctx.refs / f"{name}.png") as reference:
                    reference.load()
                    references[name] = reference
            return references
        with Image.open(io.BytesIO(data)) as image:  # the warm-up's small source
            image.load()
            sizes = target_sizes(image.size)
            return {name: image.resize(size, LANCZOS) for name, size in sizes.items()}


class OwnFloor(Floor):
    name = "floor[our decode]"
    definition = (
        "the floor of the default engine's own path: the JPEG decoded as that engine decodes "
        "it, on one thread: for a 4:2:0 JPEG (all three inputs) the planar path's two Pillow "
        "decodes, the luma alone (draft mode L) at the scale the engine picks for the largest "
        "rendition (1/1 for 12 MP, 1/2 for 24 MP) and the picture in YCbCr at the scale it picks "
        "for the colour (a quarter of the luma's for the 12 MP inputs, half for 24 MP); then "
        "the same five encodes as the floor. What is left above it is resizing, threads and "
        "overhead."
    )
    inputs = ("jpeg12", "jpeg24", "chart12")

    def setup(self, ctx: Context) -> None:
        super().setup(ctx)
        try:
            from images_app.rendering import parse_spec
            from images_app.rendering.engines import pillow
        except ImportError as exc:
            raise Unavailable(f"images_app's engines do not import: {exc}") from exc
        self.pillow = pillow
        self.specs = [parse_spec(name, f"max-{w}x{h}") for name, (w, h) in RENDITIONS.items()]

    def prepare(self, data: bytes, label: str) -> Job:
        references = self._references(data, label)
        pillow = self.pillow
        engine = pillow.PillowEngine()
        source = engine.open(data, ["JPEG"])
        size = source.handle.size
        sizes = [spec.target_size(*source.size) for spec in self.specs]
        factor = pillow._planar_factor(source, sizes)  # the engine's own choices, not timed
        if factor is None:
            raise Unavailable(f"{label} does not take the planar path")
        groups = pillow.group_specs(self.specs, sizes, transparent=False)
        colour = pillow._Planar(engine, source, factor, 1)._colour_factor(groups)
        draft = pillow._draft

        def run() -> Outputs:
            draft(data, "L", size, factor)
            draft(data, "YCbCr", size, colour)
            return [(name, _encode_floor(reference)) for name, reference in references.items()]

        return Job(run)


class ImagesApp(Method):
    inputs = ("jpeg12", "jpeg24", "chart12", "png4")

    def __init__(self, engine: str):
        self.engine = engine
        self.name = f"images_app[{engine}]"
        self.definition = (
            f'images_app.rendering with engine="{engine}": inspect_image (sniff, limits), '
            "strip_metadata on the original (the copy the service keeps) and render() of the "
            "five default specs, outputs in memory."
        )

    def setup(self, ctx: Context) -> None:
        super().setup(ctx)
        try:
            self.rendering = importlib.import_module("images_app.rendering")
            importlib.import_module(f"images_app.rendering.engines.{self.engine}")
        except ImportError as exc:
            raise Unavailable(f"engine {self.engine!r} does not import: {exc}") from exc
        available = getattr(self.rendering, "available_engines", None)
        if available is not None and self.engine not in available():
            raise Unavailable(f"engine {self.engine!r} is not in available_engines()")
        # "lossless": PNG outputs, so PSNR measures the pixels and not the JPEG encoder.
        suffix = "|format-png" if ctx.options.get("lossless") else ""
        self.specs = [
            self.rendering.parse_spec(name, f"max-{width}x{height}{suffix}")
            for name, (width, height) in RENDITIONS.items()
        ]

    def prepare(self, data: bytes, label: str) -> Job:
        rendering = self.rendering

        def run():
            info = rendering.inspect_image(data, formats=FORMATS, max_pixels=MAX_PIXELS)
            original = rendering.strip_metadata(data, info.format)
            outputs = rendering.render(data, self.specs, formats=FORMATS, engine=self.engine)
            return original, outputs

        def collect(result) -> Outputs:
            return [(output.name, output.data) for output in result[1]]

        return Job(run, collect)


class NaivePillow(Method):
    name = "naive Pillow"
    definition = (
        "per rendition: Image.open + full decode, one LANCZOS resize to the final size, "
        "JPEG q85 4:2:0 (what a view written without care does)."
    )

    def prepare(self, data: bytes, label: str) -> Job:
        with Image.open(io.BytesIO(data)) as image:
            sizes = target_sizes(image.size)

        def run() -> Outputs:
            outputs = []
            for name, size in sizes.items():
                with Image.open(io.BytesIO(data)) as image:
                    outputs.append((name, _encode_jpeg(image.resize(size, LANCZOS))))
            return outputs

        return Job(run)


class DjangoLibrary(Method):
    """A Django thumbnail library in a minimal project: in-memory SQLite (migrated), locmem
    cache, InMemoryStorage as the default storage, the source saved there before timing."""

    apps: tuple[str, ...] = ()

    def settings(self) -> dict:
        return {}

    def setup(self, ctx: Context) -> None:
        super().setup(ctx)
        try:
            for app in self.apps:
                importlib.import_module(app)
        except ImportError as exc:
            raise Unavailable(f"{exc}; install requirements/bench.txt") from exc
        import django
        from django.conf import settings
        from django.core.management import call_command

        settings.configure(
            DEBUG=False,
            SECRET_KEY="benchmark",
            USE_TZ=True,
            INSTALLED_APPS=["django.contrib.contenttypes", *self.apps],
            DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
            CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}},
            STORAGES={
                "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
                "staticfiles": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
            },
            MEDIA_ROOT=str(ctx.workdir),
            MEDIA_URL="/media/",
            **self.settings(),
        )
        django.setup()
        call_command("migrate", verbosity=0, interactive=False, run_syncdb=True)

    def prepare(self, data: bytes, label: str) -> Job:
        from django.core.files.base import ContentFile
        from django.core.files.storage import default_storage

        name = default_storage.save(f"sources/{label}-{uuid.uuid4().hex}.jpg", ContentFile(data))

        def collect(names: list[tuple[str, str]]) -> Outputs:
            outputs = []
            for rendition, stored in names:
                if not stored or not default_storage.exists(stored):
                    raise RuntimeError(f"{self.name} made no file for {rendition!r}")
                with default_storage.open(stored) as file:
                    outputs.append((rendition, file.read()))
            return outputs

        return Job(lambda: self.thumbnails(name), collect)

    def thumbnails(self, name: str) -> list[tuple[str, str]]:
        """Make the five renditions of ``name``; return (rendition, stored name) pairs."""
        raise NotImplementedError


class Sorl(DjangoLibrary):
    apps = ("sorl.thumbnail",)

    def __init__(self, engine: str):
        self.engine = engine
        self.name = f"sorl-thumbnail[{engine}]"
        self.definition = (
            f"sorl.thumbnail.get_thumbnail(name, 'WxH', quality=85) x5, "
            f"THUMBNAIL_ENGINE=sorl.thumbnail.engines.{engine}_engine, progressive off, "
            "upscale off, cached_db key-value store (a source decode per thumbnail)."
        )

    def settings(self) -> dict:
        return {
            "THUMBNAIL_ENGINE": f"sorl.thumbnail.engines.{self.engine}_engine.Engine",
            "THUMBNAIL_QUALITY": QUALITY,
            "THUMBNAIL_PROGRESSIVE": False,
            "THUMBNAIL_UPSCALE": False,
            "THUMBNAIL_FORMAT": "JPEG",
        }

    def setup(self, ctx: Context) -> None:
        module = f"sorl.thumbnail.engines.{self.engine}_engine"
        super().setup(ctx)
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise Unavailable(f"{module} does not import: {exc}") from exc

    def thumbnails(self, name: str) -> list[tuple[str, str]]:
        from sorl.thumbnail import get_thumbnail

        return [
            (rendition, get_thumbnail(name, f"{width}x{height}", quality=QUALITY).name)
            for rendition, (width, height) in RENDITIONS.items()
        ]


class Versatile(DjangoLibrary):
    name = "versatileimagefield"
    definition = (
        "versatileimagefield's ThumbnailImage sizer, sizer['WxH'] x5 (creates on demand; "
        "Pillow thumbnail() with LANCZOS), jpeg_resize_quality=85, progressive off."
    )
    apps = ("versatileimagefield",)

    def settings(self) -> dict:
        return {
            "VERSATILEIMAGEFIELD_SETTINGS": {
                "jpeg_resize_quality": QUALITY,
                "progressive_jpeg": False,
                "cache_name": "default",
            }
        }

    def thumbnails(self, name: str) -> list[tuple[str, str]]:
        from django.core.files.storage import default_storage
        from versatileimagefield.versatileimagefield import ThumbnailImage

        sizer = ThumbnailImage(name, default_storage, True)
        return [
            (rendition, sizer[f"{width}x{height}"].name)
            for rendition, (width, height) in RENDITIONS.items()
        ]


class EasyThumbnails(DjangoLibrary):
    name = "easy-thumbnails"
    definition = (
        "easy_thumbnails get_thumbnailer(name).get_thumbnail({'size': (W, H), 'quality': 85}) "
        "x5, THUMBNAIL_PROGRESSIVE off; it always saves JPEG with optimize=1 (not settable)."
    )
    apps = ("easy_thumbnails",)

    def settings(self) -> dict:
        return {"THUMBNAIL_QUALITY": QUALITY, "THUMBNAIL_PROGRESSIVE": False}

    def thumbnails(self, name: str) -> list[tuple[str, str]]:
        from easy_thumbnails.files import get_thumbnailer

        thumbnailer = get_thumbnailer(name)
        return [
            (rendition, thumbnailer.get_thumbnail({"size": box, "quality": QUALITY}).name)
            for rendition, box in RENDITIONS.items()
        ]


class HttpUpload(Method):
    name = "HTTP upload"
    definition = (
        "one POST /api/images/ (multipart image=<file>, type=product, X-Api-Version: 12, "
        "Bearer token) to a live gunicorn (project/gunicorn.conf.py with 1 worker, warmed up "
        "by one upload) on "
        "127.0.0.1 with SQLite and FileSystemStorage in a temp dir; wall is the client's, "
        "from sending the prebuilt body to the parsed 200 response; cpu and peak memory "
        "are the server worker's (/proc)."
    )

    def setup(self, ctx: Context) -> None:
        super().setup(ctx)
        if "url" not in ctx.options:
            raise Unavailable("no server (see the line printed when it was started)")
        self.url = urlsplit(ctx.options["url"])
        self.token = ctx.options["token"]
        self.media_root = Path(ctx.options["media_root"])

    def prepare(self, data: bytes, label: str) -> Job:
        body, headers = upload_request(data, f"{label}.jpg", self.token)

        def run() -> dict:
            connection = http.client.HTTPConnection(self.url.hostname, self.url.port, timeout=120)
            try:
                connection.request("POST", "/api/images/", body=body, headers=headers)
                response = connection.getresponse()
                payload = response.read()
            finally:
                connection.close()
            if response.status != 200:
                raise RuntimeError(f"upload answered {response.status}: {payload[:300]!r}")
            return json.loads(payload)

        return Job(run, self._collect)

    def _collect(self, payload: dict) -> Outputs:
        outputs = []
        for name, url in payload["urls"].items():
            if name in RENDITIONS:
                key = urlsplit(url).path.removeprefix("/media/")
                outputs.append((name, (self.media_root / key).read_bytes()))
        return outputs


def _encode_jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", **JPEG_OPTIONS)
    return buffer.getvalue()


def _encode_floor(image: Image.Image) -> bytes:
    if image.mode == "RGB":
        return _encode_jpeg(image)
    buffer = io.BytesIO()
    image.save(buffer, "PNG", compress_level=PNG_FLOOR_LEVEL)
    return buffer.getvalue()


def upload_request(data: bytes, filename: str, token: str) -> tuple[bytes, dict[str, str]]:
    """The body and headers of an upload, as ``curl -F image=@FILE -F type=product`` sends."""
    boundary = uuid.uuid4().hex
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="type"\r\n\r\nproduct\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="{filename}"'
        "\r\nContent-Type: application/octet-stream\r\n\r\n"
    )
    body = head.encode() + data + f"\r\n--{boundary}--\r\n".encode()
    headers = {
        "Content-Type": f"multipart/form-data; boundary={boundary}",
        "Accept": "application/json",
        "Authorization": f"Bearer {token}",
        "X-Api-Version": "12",
    }
    return body, headers


METHODS: dict[str, Method] = {
    method.name: method
    for method in (
        Floor(),
        OwnFloor(),
        ImagesApp("vips"),
        ImagesApp("pillow"),
        NaivePillow(),
        Sorl("vips"),
        Sorl("pil"),
        Versatile(),
        EasyThumbnails(),
        HttpUpload(),
    )
}
