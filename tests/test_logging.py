"""images_app/logging.py: structured logs of every upload and every error the API answers."""

import json
import logging

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from images_app.logging import JsonFormatter

from . import images
from .conftest import client_for

pytestmark_db = pytest.mark.django_db


# Structured logs of every upload and every error


def api_records(caplog) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == "images_app.api"]


@pytestmark_db
def test_an_upload_is_logged_with_id_owner_version_and_timings(backend, user, caplog):
    caplog.set_level(logging.INFO, logger="images_app")
    upload = SimpleUploadedFile("p.jpg", images.jpeg(64, 48), content_type="image/jpeg")

    body = (
        client_for(user, version=5)
        .post("/api/images/", {"product_image": upload, "type": "user"}, format="multipart")
        .json()
    )

    (record,) = api_records(caplog)
    line = json.loads(JsonFormatter().format(record))
    assert line["level"] == "INFO"
    assert line["event"] == "upload"
    assert line["id"] == -body["id"] > 0  # the real id, not the legacy negative one
    assert line["owner"] == user.pk
    assert line["version"] == 5
    assert line["status"] == 200
    assert line["total_ms"] > 0
    assert line["request_bytes"] > 0


@pytestmark_db
def test_upload_logs_carry_render_and_store_timings_where_the_pipeline_marks_them(
    backend, user, caplog
):
    caplog.set_level(logging.INFO, logger="images_app")
    upload = SimpleUploadedFile("p.jpg", images.jpeg(64, 48), content_type="image/jpeg")
    client_for(user).post("/api/images/", {"image": upload, "type": "user"}, format="multipart")

    (record,) = api_records(caplog)
    assert record.render_ms > 0
    assert record.store_ms >= 0
    assert record.total_ms >= record.render_ms


@pytestmark_db
@pytest.mark.parametrize(
    ("version", "status", "key", "authenticated"),
    [
        ("abc", 406, "common.invalid_version", False),  # DRF checks the version first
        ("12", 400, "common.serializer_error", True),
    ],
)
def test_an_error_is_logged_with_its_key(
    backend, user, caplog, version, status, key, authenticated
):
    caplog.set_level(logging.INFO, logger="images_app")

    client_for(user, version=version).post("/api/images/", {}, format="multipart")

    (record,) = api_records(caplog)
    line = json.loads(JsonFormatter().format(record))
    assert (line["event"], line["status"], line["key"], line["level"]) == (
        "error", status, key, "WARNING"
    )  # fmt: skip
    assert line["owner"] == (user.pk if authenticated else None)
    assert str(line["version"]) == version


@pytestmark_db
def test_a_server_error_is_logged_as_an_error_with_its_traceback(backend, api, caplog, monkeypatch):
    from images_app.models import Image

    def broken(**kwargs):
        raise RuntimeError("database on fire")

    monkeypatch.setattr(Image.objects, "create_from_upload", broken)
    caplog.set_level(logging.INFO, logger="images_app")
    upload = SimpleUploadedFile("p.jpg", images.jpeg(64, 48), content_type="image/jpeg")

    response = api.post("/api/images/", {"image": upload, "type": "user"}, format="multipart")

    assert response.status_code == 500
    assert "database on fire" not in response.content.decode()
    (record,) = api_records(caplog)
    assert (record.levelname, record.status, record.key) == ("ERROR", 500, "common.server_error")
    traced = [r for r in caplog.records if r.exc_info]
    assert "database on fire" in JsonFormatter().format(traced[0])


def test_successful_reads_are_not_logged(caplog, rf):
    from images_app.logging import log_response

    caplog.set_level(logging.INFO, logger="images_app")
    from django.http import HttpResponse

    log_response(rf.get("/api/images/"), HttpResponse(status=200), {"total": 1.0})

    assert api_records(caplog) == []


def test_phases_marked_during_a_request_show_up_as_timings(caplog, rf):
    from django.http import JsonResponse

    from images_app.logging import ApiLogMiddleware, phase

    def view(request):
        with phase("render"):
            pass
        with phase("store"):
            pass
        with phase("store"):  # a phase met twice adds up
            pass
        return JsonResponse({"id": 7, "urls": {}, "type": 0, "new": True})

    caplog.set_level(logging.INFO, logger="images_app")
    ApiLogMiddleware(view)(rf.post("/api/images/"))
    with phase("render"):  # outside a request: nowhere to record, no error
        pass

    (record,) = api_records(caplog)
    assert record.id == 7
    assert {"render_ms", "store_ms", "total_ms"} <= set(vars(record))
    assert record.total_ms >= record.render_ms + record.store_ms
