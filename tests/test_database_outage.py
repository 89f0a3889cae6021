"""The database down: gunicorn on PostgreSQL through a TCP proxy that cuts it on demand.

Whatever database the suite itself runs on, this module makes its own PostgreSQL database (on
the server of DATABASE_URL when that is PostgreSQL, else on 127.0.0.1:5432, which CI starts) and
serves it through ``TcpFaultProxy``: the answer to every upload during an outage is 503
``common.service_unavailable`` with Retry-After, no file stays behind, and the same server
process uploads again once the database is back.
"""

import os
import uuid
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
import requests

from . import images
from .faultproxy import TcpFaultProxy
from .live import Site, manage

pytestmark = pytest.mark.live

INSERT_IMAGE = b'INSERT INTO "images_app_image"'


def postgres_server() -> str:
    """The URL of a PostgreSQL server's maintenance database."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        url = "postgres://postgres@127.0.0.1:5432/postgres"
    return urlunsplit(urlsplit(url)._replace(path="/postgres"))


@pytest.fixture(scope="module")
def database():
    """A fresh PostgreSQL database for this module, dropped at the end; yields its URL."""
    server = postgres_server()
    name = f"images_outage_{uuid.uuid4().hex[:10]}"
    try:
        admin = psycopg.connect(server, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL is needed at {server} (CI starts it): {exc}")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        yield urlunsplit(urlsplit(server)._replace(path=f"/{name}"))
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def proxy(database):
    parts = urlsplit(database)
    proxy = TcpFaultProxy(parts.hostname, parts.port or 5432).start()
    yield proxy
    proxy.stop()


@pytest.fixture(scope="module")
def site(tmp_path_factory, database, proxy):
    through = urlsplit(database)._replace(netloc=f"postgres@127.0.0.1:{proxy.port}")
    return Site.create(
        tmp_path_factory.mktemp("outage"),
        DATABASE_URL=urlunsplit(through),
        DATABASE_CONNECT_TIMEOUT="2",
    )


@pytest.fixture(scope="module")
def server(site):
    with site.serve("gunicorn") as base:
        yield base


@pytest.fixture
def healed(proxy):
    proxy.heal()
    yield proxy
    proxy.heal()


def upload(site: Site, base: str) -> requests.Response:
    photo = images.jpeg(640, 480)
    return requests.post(
        f"{base}/api/images/",
        files={"image": ("photo.jpg", photo, "image/jpeg")},
        data={"type": "product"},
        headers=site.auth,
        timeout=60,
    )


def assert_unavailable(response: requests.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert error["key"] == "common.service_unavailable"
    assert "database" in error["description"]
    assert int(response.headers["Retry-After"]) > 0


def rows(database: str) -> int:
    with psycopg.connect(database) as connection:
        return connection.execute("SELECT count(*) FROM images_app_image").fetchone()[0]


def test_a_database_that_refuses_connections_is_503_and_the_same_server_recovers(
    site, server, healed, database
):
    assert upload(site, server).status_code == 200  # the worker now holds a connection
    stored, files = rows(database), site.media_files()
    healed.refuse()  # that connection is reset, new ones are refused

    response = upload(site, server)

    assert_unavailable(response)
    assert requests.get(f"{server}/healthz", timeout=30).status_code == 503
    healed.heal()
    assert upload(site, server).status_code == 200
    assert rows(database) == stored + 1
    assert len(site.media_files()) == len(files) + 6  # six files a row, and no strays


def test_the_database_going_down_after_the_files_are_stored_removes_them(
    site, server, healed, database
):
    stored, files = rows(database), site.media_files()
    healed.refuse_on(INSERT_IMAGE)  # authentication passed, renditions written, then down

    response = upload(site, server)

    assert_unavailable(response)
    healed.heal()
    assert rows(database) == stored
    assert site.media_files() == files  # every file of the refused upload removed again
    assert upload(site, server).status_code == 200  # no restart needed


def test_a_database_gone_silent_is_503_within_the_connect_timeout_not_a_hang(
    site, server, healed, database
):
    """Connections are accepted and never answered: without a connect timeout the worker waits
    until gunicorn kills it (120 s) and the client's 60 s timeout fires first."""
    assert upload(site, server).status_code == 200
    healed.stall()  # DATABASE_CONNECT_TIMEOUT is 2 s for this server

    response = upload(site, server)

    assert_unavailable(response)
    healed.heal()
    assert upload(site, server).status_code == 200


def test_postgresql_waits_are_bounded_and_set_from_the_environment(site, database):
    code = (
        "from django.db import connection; c = connection.cursor(); "
        "c.execute('SHOW statement_timeout'); print(c.fetchone()[0], "
        "connection.settings_dict['OPTIONS']['connect_timeout'])"
    )
    env = {k: v for k, v in site.env.items() if not k.startswith("DATABASE_")}
    env["DATABASE_URL"] = database

    assert manage(env, "shell", "-v", "0", "-c", code).split() == ["30s", "5"]  # the defaults
    env.update(DATABASE_STATEMENT_TIMEOUT="2.5", DATABASE_CONNECT_TIMEOUT="3")
    assert manage(env, "shell", "-v", "0", "-c", code).split() == ["2500ms", "3"]
