"""Who a bearer token acts for: its user, its application's user, or nobody (refused)."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from images_app.models import Image

from . import images
from .conftest import bearer, client_credentials_token, make_token

pytestmark = pytest.mark.django_db


def upload(client):
    data = SimpleUploadedFile("p.jpg", images.jpeg(64, 48), content_type="image/jpeg")
    return client.post("/api/images/", {"image": data, "type": "product"})


def error_of(response, status: int, key: str) -> dict:
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["key"] == key
    return error


def test_a_client_credentials_token_acts_as_the_user_who_owns_its_application(user, backend):
    client = bearer(client_credentials_token(owner=user))

    response = upload(client)

    assert response.status_code == 200, response.content
    image = Image.objects.get()
    assert image.owner == user
    assert f"/uploads/{user.pk}/" in response.json()["urls"]["original"]
    listed = client.get("/api/images/").json()["results"]
    assert [item["id"] for item in listed] == [image.pk]
    assert client.get(f"/api/images/{image.pk}/").status_code == 200


def test_a_client_credentials_token_without_a_user_is_403_saying_why(backend):
    client = bearer(client_credentials_token(owner=None))

    for response in (upload(client), client.get("/api/images/"), client.get("/api/images/1/")):
        error = error_of(response, 403, "common.permission_denied")
        assert "no user" in error["description"]
        assert "issue_token" in error["description"]
    assert not Image.objects.exists()
    assert backend.keys() == set()  # no file, not even an uploads/None/... directory


def test_the_same_token_from_another_users_application_sees_only_that_users_images(
    user, other_user, backend
):
    assert upload(bearer(client_credentials_token(owner=user))).status_code == 200

    theirs = bearer(client_credentials_token(owner=other_user))

    assert theirs.get("/api/images/").json()["results"] == []
    pk = Image.objects.get().pk
    error_of(theirs.get(f"/api/images/{pk}/"), 404, "common.not_found")


@pytest.mark.parametrize(
    ("token", "said"),
    [("not-a-token", "invalid"), ("expired", "expired")],
)
def test_a_wrong_token_is_401_saying_it_is_invalid_or_expired(user, token, said):
    if token == "expired":
        token = make_token(user, expires_in=-10)

    response = upload(bearer(token))

    error = error_of(response, 401, "common.not_authenticated")
    assert said in error["description"]
    assert "not provided" not in error["description"]
    assert 'error="invalid_token"' in response["WWW-Authenticate"]


@pytest.mark.parametrize("authorization", [None, "Bearer ", "Basic dXNlcjpwYXNz"])
def test_no_bearer_token_is_401_saying_how_to_send_one(authorization):
    client = APIClient()
    if authorization:
        client.credentials(HTTP_AUTHORIZATION=authorization)

    response = upload(client)

    error = error_of(response, 401, "common.not_authenticated")
    assert "Authorization: Bearer" in error["description"]
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_token_without_the_images_scope_is_403_naming_the_scope(user):
    error = error_of(upload(bearer(make_token(user, "read"))), 403, "common.permission_denied")
    assert "images" in error["description"]


def deactivate(user) -> None:
    user.is_active = False
    user.save(update_fields=["is_active"])


@pytest.mark.parametrize("via", ["issue_token", "client_credentials"])
def test_a_deactivated_users_tokens_are_401_at_once(user, backend, via):
    token = make_token(user) if via == "issue_token" else client_credentials_token(owner=user)
    client = bearer(token)
    assert client.get("/api/images/").status_code == 200

    deactivate(user)

    for response in (upload(client), client.get("/api/images/")):
        error = error_of(response, 401, "common.not_authenticated")
        assert "deactivated" in error["description"]
        assert 'error="invalid_token"' in response["WWW-Authenticate"]
    assert not Image.objects.exists()


def test_tokens_are_stored_hashed_so_a_database_copy_holds_no_working_token(user):
    from oauth2_provider.models import get_access_token_model

    tokens = [make_token(user), client_credentials_token(owner=user)]

    stored = list(get_access_token_model().objects.values_list("token", "token_checksum"))
    assert {value for value, _ in stored} == {""}
    for _, checksum in stored:
        assert checksum not in tokens
        error_of(bearer(checksum).get("/api/images/"), 401, "common.not_authenticated")
    for token in tokens:
        assert bearer(token).get("/api/images/").status_code == 200
