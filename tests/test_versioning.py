"""X-Api-Version: a whole number in range, anything else a 406 in the envelope (never a 500)."""

import pytest
from rest_framework.test import APIClient

from .conftest import client_for

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "header",
    ["abc", "0", "13", "-1", "7.5", "", "١٢", "9" * 10, "1" * 4301, "0" * 5000 + "7", "1e3"],
    ids=lambda header: header[:12] + (f"…({len(header)})" if len(header) > 12 else ""),
)
@pytest.mark.parametrize("authenticated", [True, False])
def test_a_bad_version_is_406_in_the_envelope(user, header, authenticated):
    client = client_for(user, version=header) if authenticated else APIClient()
    response = client.get(
        "/api/images/", **({} if authenticated else {"HTTP_X_API_VERSION": header})
    )

    assert response.status_code == 406, response.content[:200]
    error = response.json()["error"]
    assert error["key"] == "common.invalid_version"
    assert "from 1 to 12" in error["description"]
    assert len(error["description"]) < 120  # a long header is not echoed back


@pytest.mark.parametrize("header", ["7", " 3 ", "012"])
def test_a_good_version_is_used(user, header):
    response = client_for(user, version=header).get("/api/images/")

    assert response.status_code == 200


def test_a_version_in_other_digits_is_quoted_as_the_client_sent_it(user):
    as_wsgi_gives_it = "١٢".encode().decode("latin-1")  # header bytes, read as Latin-1

    response = client_for(user, version=as_wsgi_gives_it).get("/api/images/")

    assert response.status_code == 406
    assert "got '١٢'" in response.json()["error"]["description"]
