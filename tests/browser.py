"""Debian's Chromium driven by Playwright, for the browser tests (admin, API docs, CORS).

Needs ``/usr/bin/chromium`` (``.ci/run`` installs it): without it these tests fail, they never
skip. A pytest plugin of the suite (``tests/conftest.py``): any test can ask for ``browser`` or
``page``.
"""

import os

import pytest
from playwright.sync_api import expect, sync_playwright

# Playwright's assertions wait 5 s by default, its actions 30 s (set below): on a loaded CI
# machine Swagger UI alone can take longer than 5 s to render. One budget for both.
expect.set_options(timeout=30_000)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser():
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run does).")
    # Playwright's sync API keeps an event loop running in this thread for as long as it is
    # open; the ORM calls made meanwhile (the tests', the database teardown's) are still plain
    # synchronous ones, so Django's guard against async use does not apply.
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    """A fresh tab; the test fails if any page it opened raised a JavaScript error."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(30_000)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert errors == [], errors
