"""images_app/health.py: ``/healthz`` in process, the database and the storage probed."""

import threading
from urllib.parse import urlsplit

import pytest
from botocore.config import Config
from django.test import Client

from images_app import health

from .conftest import S3Backend, public_bucket, unwritable_filesystem
from .faultproxy import TcpFaultProxy

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


# A storage that accepts connections and never answers (a hung S3 or proxy)


@pytest.fixture
def silent_s3(settings, s3_endpoint):
    """The images storage on S3 through a relay that accepts connections and never answers;
    the probe's own waits are 3 s, one attempt, so it is still running while /healthz answers."""
    relay = TcpFaultProxy("127.0.0.1", urlsplit(s3_endpoint).port).start()
    relay.stall()
    config = S3Backend(s3_endpoint, public_bucket(s3_endpoint)).config(
        endpoint=f"http://127.0.0.1:{relay.port}",
        client_config=Config(
            connect_timeout=1, read_timeout=3, retries={"total_max_attempts": 1},
            s3={"addressing_style": "path"},
        ),
    )  # fmt: skip
    settings.STORAGES = {**settings.STORAGES, "images": config}
    settings.IMAGES_APP = {"HEALTHZ_STORAGE_TIMEOUT": 0.5, "HEALTHZ_STORAGE_SECONDS": 3600}
    probe = health.check_storage
    probe.runs, probe.checked, probe.error = 0, None, None  # as in a fresh worker
    yield probe
    relay.heal()
    if probe.running:  # the probe ends before the next test sees it
        probe.running[0].wait(30)
    relay.stop()


@pytestmark_db
def test_a_silent_storage_is_503_before_its_probe_gives_up_and_holds_no_thread(client, silent_s3):
    answers: list[int] = []

    def check():
        answers.append(Client().get("/healthz").status_code)

    threads = [threading.Thread(target=check) for _ in range(4)]  # a fresh worker's burst
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert answers == [503] * 4
    assert silent_s3.checked is None  # all answered before the probe had an outcome
    assert silent_s3.runs == 1  # one probe for the whole burst
    response = client.get("/healthz")  # the probe still running: no new probe, no wait for it
    assert response.status_code == 503
    assert response.json()["error"]["fields"] == {"storage": ["Storage probe failed."]}
    assert silent_s3.runs == 1
