"""Swagger UI at /api/docs/, in a real headless Chromium: sign in either way, upload, any version.

Chromium: ``tests/browser.py``.
"""

import secrets

import pytest
from oauth2_provider.models import get_application_model
from playwright.sync_api import Locator, Page, expect

from images_app.models import Image

from . import images
from .conftest import make_token

pytestmark = [
    pytest.mark.browser,
    pytest.mark.live,
    pytest.mark.usefixtures("transactional_db"),
]

UPLOAD = "#operations-images-images_create"


@pytest.fixture
def tab(page):
    return page


def open_docs(tab: Page, live_server) -> None:
    tab.goto(f"{live_server.url}/api/docs/")
    expect(tab.locator(UPLOAD)).to_be_visible()


def authorize_with_a_pasted_token(tab: Page, token: str) -> None:
    tab.click("button.authorize")
    tab.fill("#auth-bearer-value", token)
    tab.click(".auth-container:has(#auth-bearer-value) button.authorize")
    tab.click(".modal-ux .close-modal")


def authorize_with_client_credentials(tab: Page, client_id: str, secret: str) -> None:
    tab.click("button.authorize")
    flow = tab.locator(".auth-container", has=tab.locator("#client_id_clientCredentials"))
    flow.locator("#client_id_clientCredentials").fill(client_id)
    flow.locator("#client_secret_clientCredentials").fill(secret)
    flow.locator("label[for=images-clientCredentials-checkbox-oauth2]").click()
    flow.locator("button.authorize").click()
    # Swagger UI fetched a token from /o/token/ with the client id and secret.
    expect(tab.locator(".modal-ux").get_by_text("Authorized", exact=True)).to_be_visible()
    tab.click(".modal-ux .close-modal")


def try_upload(tab: Page) -> Locator:
    operation = tab.locator(UPLOAD)
    operation.locator(".opblock-summary").click()
    operation.locator("button.try-out__btn").click()
    return operation


def form_fields(operation: Locator) -> list[str]:
    rows = operation.locator(".opblock-section-request-body tr[data-property-name]")
    return sorted(rows.evaluate_all("rows => rows.map(row => row.dataset.propertyName)"))


def choose_version(operation: Locator, version: str, fields: list[str]) -> None:
    operation.locator('tr[data-param-name="X-Api-Version"] input').fill(version)
    # The form follows the version (after Swagger UI's input debounce).
    for field in fields:
        expect(operation.locator(f'tr[data-property-name="{field}"]')).to_be_visible()
    rows = operation.locator(".opblock-section-request-body tr[data-property-name]")
    expect(rows).to_have_count(len(fields))
    assert form_fields(operation) == sorted(fields)


def execute(operation: Locator, file_field: str, type_: str | None) -> dict:
    data = images.jpeg(120, 90)
    row = operation.locator(f'tr[data-property-name="{file_field}"]')
    row.locator("input[type=file]").set_input_files(
        {"name": "photo.jpg", "mimeType": "image/jpeg", "buffer": data}
    )
    if type_:
        operation.locator('tr[data-property-name="type"] select').select_option(type_)
    clear = operation.locator("button.btn-clear")
    if clear.count():
        clear.click()  # the previous answer goes, so the one awaited below is this request's
    operation.locator("button.execute").click()
    status = operation.locator(".live-responses-table .response .response-col_status").first
    expect(status).to_have_text("200", timeout=30_000)
    return operation.locator(".live-responses-table .microlight").first.inner_text()


def test_a_pasted_token_uploads_with_each_versions_fields(tab, live_server, backend, user):
    open_docs(tab, live_server)
    authorize_with_a_pasted_token(tab, make_token(user))
    operation = try_upload(tab)

    assert form_fields(operation) == ["image", "type"]  # no header: version 12
    choose_version(operation, "5", ["product_image", "type"])
    choose_version(operation, "1", ["product_image"])
    choose_version(operation, "5", ["product_image", "type"])
    body = execute(operation, "product_image", "account")

    image = Image.objects.get()
    assert (image.owner, image.type) == (user, 1)
    assert f'"id": {-image.pk}' in body  # version 5: the legacy negative id
    choose_version(operation, "12", ["image", "type"])
    execute(operation, "image", "user")
    assert Image.objects.count() == 2


def test_the_oauth2_flow_gets_a_token_and_uploads(tab, live_server, backend, user):
    secret = secrets.token_urlsafe(24)
    application = get_application_model().objects.create(
        name="swagger",
        user=user,
        client_type="confidential",
        authorization_grant_type="client-credentials",
        client_secret=secret,
    )
    open_docs(tab, live_server)
    authorize_with_client_credentials(tab, application.client_id, secret)
    operation = try_upload(tab)

    execute(operation, "image", "product")

    assert Image.objects.get().owner == user


def test_error_examples_are_the_real_envelopes(tab, live_server):
    open_docs(tab, live_server)
    operation = tab.locator(UPLOAD)
    operation.locator(".opblock-summary").click()

    response = operation.locator('tr.response[data-code="409"]')
    expect(response).to_contain_text('"key": "common.idempotency_conflict"')
    expect(response).to_contain_text("still being processed")
