"""The upload body: its file part stays in memory (images_app/parsers.py), never in a temp file."""

import os

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image as PILImage

from images_app.models import Image

from . import images

pytestmark = pytest.mark.django_db


def test_a_photo_over_the_memory_threshold_is_read_without_a_temporary_file(
    api, settings, tmp_path
):
    # Django would spool this part to FILE_UPLOAD_TEMP_DIR (over 2.5 MiB) and fail on a
    # directory it cannot write: the upload succeeding shows the part never went to disk.
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path / "missing")
    noise = PILImage.effect_noise((2000, 1500), 64)
    data = images.encode(
        PILImage.merge("RGB", (noise, noise.rotate(180), noise)), "JPEG", quality=95
    )
    assert len(data) > settings.FILE_UPLOAD_MAX_MEMORY_SIZE
    part = SimpleUploadedFile("big.jpg", data, content_type="image/jpeg")

    response = api.post("/api/images/", {"image": part, "type": "product"})

    assert response.status_code == 200, response.content
    assert Image.objects.get().bytes <= len(data)
    assert not os.path.exists(settings.FILE_UPLOAD_TEMP_DIR)
