"""images_app/health.py: ``/healthz`` in process, the database and the storage probed."""

import pytest

from images_app import health

from .conftest import unwritable_filesystem

# /healthz in process


pytestmark_db = pytest.mark.django_db


@pytestmark_db
@pytest.mark.parametrize("path", ["/healthz", "/healthz/"])
def test_healthz_checks_the_database_and_the_storage(client, backend, path):
    response = client.get(path, HTTP_HOST="10.1.2.3")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}  # what a load balancer needs, nothing more
    assert response["Cache-Control"] == "no-store"
    assert backend.keys() == set()  # the probe object is gone again


@pytestmark_db
def test_healthz_probes_the_storage_at_most_once_per_interval(client, backend, settings):
    settings.IMAGES_APP = {"HEALTHZ_STORAGE_SECONDS": 3600}
    before = health.check_storage.runs

    for _ in range(20):
        assert client.get("/healthz").status_code == 200

    assert health.check_storage.runs - before <= 1  # not one storage write per request
    settings.IMAGES_APP = {"HEALTHZ_STORAGE_SECONDS": 0}
    for _ in range(3):
        assert client.get("/healthz").status_code == 200
    assert health.check_storage.runs - before >= 3
    assert backend.keys() == set()


@pytestmark_db
def test_healthz_probes_a_newly_configured_storage_at_once(client, backend, settings, tmp_path):
    settings.IMAGES_APP = {"HEALTHZ_STORAGE_SECONDS": 3600}
    assert client.get("/healthz").status_code == 200

    settings.STORAGES = {**settings.STORAGES, "images": unwritable_filesystem(tmp_path).config()}

    assert client.get("/healthz").status_code == 503


@pytestmark_db
def test_healthz_answers_503_with_the_envelope_when_storage_fails(client, settings, tmp_path):
    settings.STORAGES = {**settings.STORAGES, "images": unwritable_filesystem(tmp_path).config()}

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json() == {
        "error": {
            "fields": {"storage": ["Storage probe failed."]},
            "description": "Unhealthy: storage.",
            "key": "common.service_unavailable",
        }
    }


@pytestmark_db
def test_healthz_answers_503_when_the_database_fails(client, backend, monkeypatch):
    def down():
        raise OSError("connection refused")

    monkeypatch.setitem(health.CHECKS, "database", down)

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["error"]["fields"] == {"database": ["Database query failed."]}
