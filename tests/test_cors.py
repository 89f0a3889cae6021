"""CORS: a web back office on another origin calls the API from a browser.

In process: preflights are answered before authentication, with the headers the API needs, and
only for origins that DJANGO_CORS_ALLOWED_ORIGINS lists (none by default). In Chromium: a page on
one loopback origin (127.0.0.1) uploads to the API on another (localhost), reads the answer and
a 429's Retry-After; from an origin not listed the browser refuses and nothing is stored.
"""

import pytest
from rest_framework.test import APIClient

from images_app.models import Image

from . import images
from .conftest import make_token

OFFICE = "https://office.example.com"


def preflight(origin: str, headers: str = "authorization,x-api-version,idempotency-key"):
    return APIClient().options(
        "/api/images/",
        HTTP_ORIGIN=origin,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS=headers,
    )


@pytest.mark.django_db
def test_no_origin_is_allowed_by_default():
    response = preflight(OFFICE)

    assert "Access-Control-Allow-Origin" not in response


@pytest.mark.django_db
def test_a_preflight_from_an_allowed_origin_is_answered_before_authentication(settings):
    settings.CORS_ALLOWED_ORIGINS = [OFFICE]

    response = preflight(OFFICE)

    assert response.status_code == 200  # no token on a preflight, and no 401 for it
    assert response["Access-Control-Allow-Origin"] == OFFICE
    allowed = {h.strip() for h in response["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "x-api-version", "idempotency-key"} <= allowed
    methods = {m.strip() for m in response["Access-Control-Allow-Methods"].split(",")}
    assert methods == {"DELETE", "GET", "OPTIONS", "POST"}  # the API has no PUT or PATCH


@pytest.mark.django_db
def test_answers_to_an_allowed_origin_expose_retry_after_errors_included(settings):
    settings.CORS_ALLOWED_ORIGINS = [OFFICE]

    response = APIClient().get("/api/images/", HTTP_ORIGIN=OFFICE)  # no token: 401

    assert response.status_code == 401
    assert response["Access-Control-Allow-Origin"] == OFFICE
    assert "Retry-After" in response["Access-Control-Expose-Headers"]
    assert "Access-Control-Allow-Credentials" not in response  # bearer tokens, not cookies


# -- in Chromium, from a second origin ---------------------------------------------------------

UPLOAD_JS = """async ({url, token, jpeg}) => {
    const bytes = Uint8Array.from(atob(jpeg), c => c.charCodeAt(0));
    const form = new FormData();
    form.append("image", new Blob([bytes], {type: "image/jpeg"}), "photo.jpg");
    form.append("type", "product");
    try {
        const response = await fetch(url, {method: "POST", body: form, headers: {
            "Authorization": "Bearer " + token, "X-Api-Version": "12",
            "Idempotency-Key": "k-" + Math.random()}});
        return {status: response.status, body: await response.json(),
                retryAfter: response.headers.get("Retry-After")};
    } catch (error) {
        return {refused: String(error)};
    }
}"""


@pytest.fixture
def office_page(browser, live_server):
    """A page on http://127.0.0.1:<port>: another origin than the API's http://localhost:<port>."""
    context = browser.new_context()
    page = context.new_page()
    port = live_server.url.rsplit(":", 1)[1]
    page.goto(f"http://127.0.0.1:{port}/admin/login/")
    yield page, f"http://127.0.0.1:{port}", f"{live_server.url}/api/images/"
    context.close()


def upload_from(page, url: str, token: str) -> dict:
    import base64

    jpeg = base64.b64encode(images.jpeg(64, 48)).decode()
    return page.evaluate(UPLOAD_JS, {"url": url, "token": token, "jpeg": jpeg})


@pytest.mark.browser
@pytest.mark.live
@pytest.mark.usefixtures("transactional_db", "one_rate_window")
def test_a_page_on_an_allowed_origin_uploads_and_reads_retry_after(
    office_page, settings, backend, user
):
    page, origin, url = office_page
    settings.CORS_ALLOWED_ORIGINS = [origin]
    settings.IMAGES_APP = {"UPLOAD_RATE": "1/min"}
    token = make_token(user)

    first = upload_from(page, url, token)
    second = upload_from(page, url, token)

    assert first["status"] == 200, first
    assert first["body"]["id"] == Image.objects.get().pk
    assert second["status"] == 429
    assert second["body"]["error"]["key"] == "common.throttled"
    assert int(second["retryAfter"]) > 0  # exposed to the page


@pytest.mark.browser
@pytest.mark.live
@pytest.mark.usefixtures("transactional_db")
def test_a_page_on_an_origin_not_listed_is_refused_by_the_browser(office_page, backend, user):
    page, _, url = office_page

    result = upload_from(page, url, make_token(user))

    assert "refused" in result, result  # the preflight has no Access-Control-Allow-Origin
    assert not Image.objects.exists()
