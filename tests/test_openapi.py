"""The OpenAPI document: served, valid, complete, and true of the running app (schemathesis)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from openapi_spec_validator import validate
from schemathesis.specs.openapi.checks import positive_data_acceptance

from images_app.models import Image

from . import images
from .conftest import make_token

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent
ENVELOPE = "#/components/schemas/ErrorEnvelope"
UPLOAD = ("/api/images/", "post")
DETAIL = "/api/images/{id}/"


@pytest.fixture
def document(client) -> dict:
    response = client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return json.loads(response.content)


@pytest.fixture
def media(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "images": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "media"), "base_url": "/media/"},
        },
    }


def operations(document: dict):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def test_the_schema_validates(document):
    validate(document)


def test_the_schema_is_also_served_as_yaml(client):
    response = client.get("/api/schema/")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi")
    assert b"openapi: 3." in response.content


def test_each_path_once_with_list_detail_upload_and_delete(document):
    assert {(path, method) for path, method, _ in operations(document)} == {
        ("/api/images/", "get"),
        ("/api/images/", "post"),
        (DETAIL, "get"),
        (DETAIL, "delete"),
    }


@pytest.mark.parametrize(
    ("path", "method", "codes"),
    [
        (*UPLOAD, {"400", "401", "403", "406", "413", "415", "429", "500", "503"}),
        ("/api/images/", "get", {"401", "403", "404", "406", "500"}),
        (DETAIL, "get", {"401", "403", "404", "406", "500"}),
        (DETAIL, "delete", {"401", "403", "404", "406", "500", "503"}),
    ],
)
def test_every_error_answer_is_the_one_envelope_component(document, path, method, codes):
    responses = document["paths"][path][method]["responses"]

    assert codes <= set(responses)
    for code, response in responses.items():
        if int(code) >= 400:
            assert response["content"]["application/json"]["schema"] == {"$ref": ENVELOPE}, code


def test_the_envelope_component(document):
    envelope = document["components"]["schemas"]["ErrorEnvelope"]

    assert envelope["required"] == ["error"]
    error = envelope["properties"]["error"]
    assert error["required"] == ["fields", "description", "key"]
    assert error["properties"]["fields"]["additionalProperties"]["type"] == "array"


def test_the_upload_answers_200_with_exactly_four_keys(document):
    responses = document["paths"]["/api/images/"]["post"]["responses"]

    assert "201" not in responses
    ref = responses["200"]["content"]["application/json"]["schema"]["$ref"]
    body = document["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    assert set(body["properties"]) == set(body["required"]) == {"id", "urls", "type", "new"}
    urls = body["properties"]["urls"]
    assert set(urls["required"]) == {
        "thumb", "thumb_retina", "ipad", "ipad_retina", "ebay", "image", "original",
    }  # fmt: skip


def test_the_version_header_is_documented_on_every_operation(document):
    for path, method, operation in operations(document):
        (header,) = [p for p in operation["parameters"] if p["name"] == "X-Api-Version"]
        assert header["in"] == "header", (path, method)
        assert header["schema"] == {"type": "integer", "minimum": 1, "maximum": 12, "default": 12}
        for text in ("`product_image`", "`image`", "1-2", "3-7", "8+", "406"):
            assert text in header["description"], text


def test_the_upload_body_is_multipart_with_a_binary_file(document):
    body = document["paths"]["/api/images/"]["post"]["requestBody"]["content"]
    ref = body["multipart/form-data"]["schema"]["$ref"]
    upload = document["components"]["schemas"][ref.rsplit("/", 1)[-1]]

    assert upload["required"] == ["image", "type"]
    assert upload["properties"]["image"]["format"] == "binary"
    assert upload["properties"]["product_image"]["format"] == "binary"


def test_oauth2_with_the_images_scope_or_a_pasted_bearer_token(document):
    schemes = document["components"]["securitySchemes"]
    scheme = schemes["oauth2"]

    assert scheme["type"] == "oauth2"
    for flow in scheme["flows"].values():
        assert flow["tokenUrl"] == "/o/token/"
        assert "images" in flow["scopes"]
    assert schemes["bearer"]["type"] == "http"
    assert schemes["bearer"]["scheme"] == "bearer"
    assert "issue_token" in schemes["bearer"]["description"]
    for _, _, operation in operations(document):
        assert operation["security"] == [{"oauth2": ["images"]}, {"bearer": []}]


def test_the_upload_says_which_fields_each_version_takes(document):
    rule = document["paths"]["/api/images/"]["post"]["x-fields-by-version"]

    assert rule == {
        "header": "X-Api-Version",
        "default": 12,
        "ranges": [
            {"from": 1, "to": 2, "fields": ["product_image"]},
            {"from": 3, "to": 7, "fields": ["product_image", "type"]},
            {"from": 8, "to": 12, "fields": ["image", "type"]},
        ],
    }


def test_the_rendition_names_follow_the_settings(client, settings):
    settings.IMAGES_APP = {"RENDITIONS": {"small": "max-10x10"}, "ALIASES": {}}
    document = json.loads(client.get("/api/schema/", {"format": "json"}).content)

    urls = document["components"]["schemas"]["ImageDetail"]["properties"]["urls"]
    assert urls["required"] == ["small", "original"]


def test_swagger_ui_is_self_hosted(client):
    response = client.get("/api/docs/")

    assert response.status_code == 200
    page = response.content.decode()
    assert "swagger-ui" in page
    assert "cdn" not in page.lower() and "unpkg" not in page.lower()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in page
    assert "/api/schema/" in page


def test_swagger_ui_files_are_in_the_static_files():
    from django.contrib.staticfiles import finders

    assert finders.find("drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")


# Schemathesis, in process over WSGI: generated requests with a valid bearer token.


@pytest.fixture
def wsgi_app():
    """The project's WSGI app, without closing the test's database connection after requests
    (Django's test client does the same)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield get_wsgi_application()
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


def load_schema(app) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_wsgi("/api/schema/?format=json", app)


@pytest.fixture
def app_schema(media, user, wsgi_app):
    schema = load_schema(wsgi_app)
    schema.token = make_token(user)
    return schema


@pytest.mark.schemathesis
@pytest.mark.parametrize(
    ("path", "method"),
    [("/api/images/", "POST"), ("/api/images/", "GET"), (DETAIL, "GET"), (DETAIL, "DELETE")],
)
def test_the_app_keeps_its_schema(app_schema, path, method):
    """No 5xx; every status documented; every body and header as the schema says.

    All of schemathesis's checks but one: "schema-valid data is accepted" cannot hold for the
    upload, whose fields depend on the X-Api-Version header (OpenAPI 3.0 cannot tie a body to a
    header) and whose file must really be an image.
    """
    auth = {"Authorization": f"Bearer {app_schema.token}"}

    @given(case=app_schema[path][method].as_strategy())
    @settings(max_examples=15, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    def keeps_its_schema(case):
        case.call_and_validate(headers=auth, excluded_checks=[positive_data_acceptance])

    keeps_its_schema()


@pytest.mark.schemathesis
def test_real_answers_conform(media, user, wsgi_app):
    """What generated data rarely reaches: a stored image, read, listed and deleted."""
    schema = load_schema(wsgi_app)
    auth = {"Authorization": f"Bearer {make_token(user)}"}
    body = {"image": images.jpeg(64, 48), "type": "user"}
    upload = schema["/api/images/"]["POST"].Case(body=body, media_type="multipart/form-data")
    assert upload.call_and_validate(headers=auth).status_code == 200
    pk = Image.objects.get().pk

    for version, id_ in [("12", pk), ("5", -pk)]:
        case = schema[DETAIL]["GET"].Case(path_parameters={"id": id_})
        assert (
            case.call_and_validate(headers={**auth, "X-Api-Version": version}).json()["id"] == id_
        )
    schema["/api/images/"]["GET"].Case().call_and_validate(headers=auth)
    for status in (204, 404):
        case = schema[DETAIL]["DELETE"].Case(path_parameters={"id": pk})
        assert case.call_and_validate(headers=auth).status_code == status


@pytest.mark.schemathesis
@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"X-Api-Version": "abc"}, 406),
        ({"X-Api-Version": "13"}, 406),
        ({"X-Api-Version": "3"}, 400),
        ({}, 400),
        ({"Authorization": "Bearer nope"}, 401),
    ],
)
def test_error_answers_conform(media, user, wsgi_app, headers, status):
    schema = load_schema(wsgi_app)
    case = schema["/api/images/"]["POST"].Case(body={}, media_type="multipart/form-data")
    response = case.call(headers={"Authorization": f"Bearer {make_token(user)}", **headers})

    assert response.status_code == status
    case.validate_response(response, excluded_checks=[positive_data_acceptance])


@pytest.mark.subprocess
def test_the_app_works_without_drf_spectacular(tmp_path):
    """The schema classes are only imported where a project serves the schema."""
    (tmp_path / "plain_settings.py").write_text(
        "from project.settings import *\n"
        "INSTALLED_APPS = [a for a in INSTALLED_APPS if not a.startswith('drf_spectacular')]\n"
        "REST_FRAMEWORK = dict(REST_FRAMEWORK)\n"
        "del REST_FRAMEWORK['DEFAULT_SCHEMA_CLASS']\n"
        "ROOT_URLCONF = 'plain_urls'\n"
    )
    (tmp_path / "plain_urls.py").write_text(
        "from django.urls import include, path\n"
        "urlpatterns = [path('api/', include('images_app.urls'))]\n"
    )
    code = (
        "import sys, django; django.setup()\n"
        "from django.test import Client\n"
        "import images_app.admin, images_app.views\n"
        "status = Client(HTTP_HOST='localhost').post('/api/images/').status_code\n"
        "print(status, 'drf_spectacular' in sys.modules)\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "plain_settings"}
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), str(ROOT)])
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-2:] == ["401", "False"]


def test_error_examples_are_the_catalogues_envelopes(document):
    """Each documented error status shows the real body of every key it can carry."""
    from images_app.exceptions import CATALOGUE

    for path, method, operation in operations(document):
        for code, response in operation["responses"].items():
            if int(code) < 400:
                continue
            examples = response["content"]["application/json"]["examples"].values()
            expected = [e.envelope() for e in CATALOGUE if e.status_code == int(code)]
            shown = [example["value"] for example in examples]
            assert [value["error"]["key"] for value in shown] == [
                body["error"]["key"] for body in expected
            ], (path, method, code)
            for value, body in zip(shown, expected, strict=True):
                assert value["error"]["description"] == body["error"]["description"]
    key = document["components"]["schemas"]["ErrorEnvelope"]["properties"]["error"]
    assert key["properties"]["key"]["enum"] == [entry.key() for entry in CATALOGUE]
