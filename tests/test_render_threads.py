"""Who renders on how many threads: web processes (RENDER_THREADS) and Celery tasks
(WORKER_RENDER_THREADS), with an engine of the project's own that notes what it was given."""

import io

import pytest
from django.core.management import call_command

from images_app.models import Image
from images_app.rendering.engines.pillow import PillowEngine
from images_app.tasks import run_batch

from . import images
from .test_rerender import CHANGED

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("backend")]


class CountingPillow(PillowEngine):
    """Pillow's engine, noting the encode threads of each render."""

    threads: list[int] = []

    def render(self, data, specs, *, formats, on_output=None, threads=2):
        CountingPillow.threads.append(threads)
        return super().render(data, specs, formats=formats, on_output=on_output, threads=threads)


@pytest.fixture
def counting(settings):
    def use(**more):
        settings.IMAGES_APP = {"ENGINE": f"{__name__}.CountingPillow", **more}
        CountingPillow.threads.clear()
        return CountingPillow.threads

    return use


def upload(owner) -> Image:
    return Image.objects.create_from_upload(owner=owner, type=0, data=images.jpeg(400, 300))


def test_uploads_render_on_two_threads_and_celery_tasks_on_one(user, counting):
    seen = counting()
    image = upload(user)
    assert seen == [2]

    seen = counting(RENDITIONS=CHANGED)
    assert run_batch([image.pk])["updated"] == 1  # the task's body, as a worker runs it
    assert seen == [1]


def test_each_knob_is_a_setting(user, counting):
    seen = counting(RENDER_THREADS=1)
    image = upload(user)
    assert seen == [1]

    seen = counting(WORKER_RENDER_THREADS=3, RENDITIONS=CHANGED)
    run_batch([image.pk])
    assert seen == [3]


def test_rerender_images_in_process_renders_as_a_web_process_does(user, counting):
    upload(user)
    seen = counting(RENDITIONS=CHANGED)

    call_command("rerender_images", stdout=io.StringIO())

    assert seen == [2]
