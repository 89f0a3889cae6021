"""manage.py issue_token, as the README and `make run` use it."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from rest_framework.test import APIClient

from . import images


def issue(username: str, scopes: str = "images") -> str:
    out = io.StringIO()
    call_command("issue_token", username=username, scopes=scopes, stdout=out)
    return out.getvalue().strip().splitlines()[-1]


@pytest.mark.django_db
@pytest.mark.usefixtures("backend")
def test_issue_token_prints_a_working_token_as_its_last_line(django_user_model):
    first, second = issue("alice"), issue("alice")

    assert first != second
    assert django_user_model.objects.filter(username="alice").count() == 1
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {second}")
    data = SimpleUploadedFile("p.jpg", images.jpeg(64, 48))
    assert client.post("/api/images/", {"image": data, "type": "product"}).status_code == 200


@pytest.mark.django_db
def test_a_token_without_the_images_scope_is_refused():
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue('bob', 'read')}")
    assert client.get("/api/images/").status_code == 403


@pytest.mark.django_db
def test_issue_token_refuses_a_deactivated_user(django_user_model):
    from django.core.management.base import CommandError
    from oauth2_provider.models import get_access_token_model

    django_user_model.objects.create_user(username="carol", is_active=False)

    with pytest.raises(CommandError, match="deactivated"):
        issue("carol")
    assert not get_access_token_model().objects.exists()


@pytest.mark.django_db
def test_issue_token_stores_only_a_checksum_of_the_token_it_prints():
    from oauth2_provider.models import get_access_token_model

    token = issue("dave")

    (stored,) = get_access_token_model().objects.all()
    assert stored.token == ""
    assert token not in stored.token_checksum
