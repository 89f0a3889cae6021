"""The admin image library end to end, in a real headless Chromium against a live server.

Chromium: ``tests/browser.py``. Screenshots go to ``artifacts/screenshots/`` (git-ignored).
"""

import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from images_app.models import Image, ImageType

from . import images

SCREENSHOTS = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"
PASSWORD = "correct horse battery staple"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.live,
    pytest.mark.usefixtures("transactional_db"),
]


@pytest.fixture
def staff_user(django_user_model):
    return django_user_model.objects.create_superuser("curator", "curator@example.com", PASSWORD)


def screenshot(page: Page, name: str, backend) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{name}-{backend.name}.png", full_page=True)


def assert_all_loaded(page: Page, selector: str) -> int:
    """Bring each image into view (they are lazy), wait for it, and check it has pixels."""
    expect(page.locator(selector).first).to_be_attached()
    broken = page.locator(selector).evaluate_all(
        """async images => {
            for (const image of images) {
                image.scrollIntoView();
                await image.decode().catch(() => {});  // rejects for a broken image
            }
            window.scrollTo(0, 0);
            return images.filter(image => !(image.naturalWidth > 0)).map(image => image.src);
        }"""
    )
    assert broken == [], broken
    return page.locator(selector).count()


def log_in(page: Page, live_server, user) -> None:
    page.goto(f"{live_server.url}/admin/login/?next=/admin/images_app/image/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    expect(page.locator("#result_list")).to_be_visible()


def wait_for(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_browse_inspect_upload_and_bulk_delete(page, live_server, backend, staff_user, user):
    uploads = [
        (user, ImageType.PRODUCT, images.jpeg(480, 360)),
        (user, ImageType.ACCOUNT, images.png_rgba(320, 240)),
        (staff_user, ImageType.USER, images.jpeg(240, 400)),
        (staff_user, ImageType.CATEGORY, images.jpeg(400, 160)),
    ]
    made = [
        Image.objects.create_from_upload(owner=owner, type=type, data=data)
        for owner, type, data in uploads
    ]

    # Browse: the list, every thumbnail really loaded.
    log_in(page, live_server, staff_user)
    assert assert_all_loaded(page, "#result_list img.images-app-thumb") == len(made)
    screenshot(page, "list", backend)

    # The grid, from the switch above the list.
    page.click("a.images-app-view >> text=Grid")
    expect(page).to_have_url(f"{live_server.url}/admin/images_app/image/?view=grid")
    assert assert_all_loaded(page, "table.images-app-grid img.images-app-thumb") == len(made)
    page.locator("tr.images-app-card input.action-select").first.check()
    expect(page.locator("tr.images-app-card.selected")).to_have_count(1)  # actions.js works here
    expect(page.locator(".action-counter")).to_contain_text("1 of 4 selected")
    screenshot(page, "grid", backend)
    page.emulate_media(color_scheme="dark")  # the admin's dark theme: our colours follow it
    screenshot(page, "grid-dark", backend)
    page.emulate_media(color_scheme="light")
    page.locator("tr.images-app-card input.action-select").first.uncheck()

    # Inspect: the change page shows the original and every rendition, all loaded.
    newest = made[-1]
    page.click(f"tr.images-app-card a.images-app-card-title >> text=#{newest.pk}")
    expect(page.locator("h2", has_text="Renditions")).to_be_visible()
    loaded = assert_all_loaded(page, "figure.images-app-rendition img")
    assert loaded == len(newest.renditions) + 1
    shown = page.locator("figure.images-app-rendition").evaluate_all(
        "figures => figures.map(figure => figure.dataset.rendition)"
    )
    assert set(shown) == {"original", *newest.renditions}
    expect(page.locator(".field-checksum")).to_contain_text(newest.checksum)
    screenshot(page, "change", backend)

    # Upload: a bad file is a form error and stores nothing; a good one opens its page.
    before = backend.keys()
    page.goto(f"{live_server.url}/admin/images_app/image/add/")
    expect(page.locator("#id_owner")).to_have_value(str(staff_user.pk))
    page.set_input_files(
        "#id_file", files=[{"name": "notes.jpg", "mimeType": "image/jpeg", "buffer": b"hello"}]
    )
    page.select_option("#id_type", label="user")
    page.click("input[name=_save]")
    expect(page.locator(".errorlist")).to_contain_text("Upload a valid image")
    screenshot(page, "add-error", backend)
    assert Image.objects.count() == len(made)
    assert backend.keys() == before

    page.set_input_files(
        "#id_file",
        files=[{"name": "a.png", "mimeType": "image/png", "buffer": images.png_rgba(360, 200)}],
    )
    page.select_option("#id_type", label="user")
    page.click("input[name=_save]")
    expect(page.locator(".messagelist")).to_contain_text("Uploaded")
    uploaded = Image.objects.latest("id")
    assert (uploaded.owner, uploaded.type, uploaded.width) == (staff_user, ImageType.USER, 360)
    assert_all_loaded(page, "figure.images-app-rendition img")
    assert set(uploaded.stored_keys()) <= backend.keys()

    # Bulk delete everything from the list: rows and files go.
    page.goto(f"{live_server.url}/admin/images_app/image/")
    page.check("#action-toggle")
    page.select_option("select[name=action]", "delete_selected")
    page.click("button[name=index]")
    expect(page.locator(".images-app-delete-note")).to_be_visible()
    screenshot(page, "delete-confirm", backend)
    page.click("input[type=submit]")
    expect(page.locator(".messagelist")).to_contain_text("Successfully deleted 5 images")
    assert not Image.objects.exists()
    wait_for(lambda: backend.keys() == set())


def shown_sizes(page: Page, selector: str) -> list[dict]:
    """Each image's width as laid out and its file's own width, once loaded."""
    return page.locator(selector).evaluate_all(
        """async images => {
            for (const image of images) {
                image.scrollIntoView();
                await image.decode().catch(() => {});
            }
            return images.map(image => ({
                alt: image.alt, shown: image.getBoundingClientRect().width,
                natural: image.naturalWidth,
            }));
        }"""
    )


def test_small_images_are_never_shown_larger_than_they_are(page, live_server, staff_user):
    small = {
        size: Image.objects.create_from_upload(
            owner=staff_user, type=ImageType.PRODUCT, data=images.png_rgba(size, size)
        )
        for size in (1, 8, 100)
    }
    big = Image.objects.create_from_upload(
        owner=staff_user, type=ImageType.PRODUCT, data=images.jpeg(900, 600)
    )
    log_in(page, live_server, staff_user)

    for where, selector, box in [
        ("list", "#result_list img.images-app-thumb", 64),
        ("grid", "table.images-app-grid img.images-app-thumb", 150),
    ]:
        if where == "grid":
            page.goto(f"{live_server.url}/admin/images_app/image/?view=grid")
        shown = {item["alt"]: item["shown"] for item in shown_sizes(page, selector)}
        for size, image in small.items():
            assert shown[f"product image {image.pk}"] == pytest.approx(min(size, box), abs=0.5)
        assert shown[f"product image {big.pk}"] == pytest.approx(box, abs=0.5), (where, shown)

    for size, image in [*small.items(), (900, big)]:
        page.goto(f"{live_server.url}/admin/images_app/image/{image.pk}/change/")
        (preview,) = shown_sizes(page, "img.images-app-thumb-preview")
        assert preview["shown"] == pytest.approx(min(size, 300), abs=0.5), (size, preview)


@pytest.mark.parametrize("width", [320, 390, 800])
def test_the_grids_sort_links_stay_visible_and_apart_on_narrow_screens(
    page, live_server, staff_user, width
):
    Image.objects.create_from_upload(
        owner=staff_user, type=ImageType.PRODUCT, data=images.jpeg(300, 200)
    )
    page.set_viewport_size({"width": width, "height": 800})
    log_in(page, live_server, staff_user)
    page.goto(f"{live_server.url}/admin/images_app/image/?view=grid")

    controls = "label.images-app-select-all, .images-app-grid-sort-label, .images-app-grid-sort a"
    boxes = page.locator(controls).evaluate_all(
        """elements => elements.map(element => {
            element.closest("thead").scrollIntoView({block: "center"});  // once, as a user would
            const box = element.getBoundingClientRect();
            const top = document.elementFromPoint(box.x + box.width / 2, box.y + box.height / 2);
            return {
                text: element.textContent.trim(), left: box.left, right: box.right,
                top: box.top, bottom: box.bottom, onTop: element.contains(top),
            };
        })"""
    )

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"grid-header-{width}.png")
    assert [box["text"] for box in boxes][-4:] == ["Newest", "Oldest", "Largest", "Smallest"]
    for box in boxes:
        assert box["onTop"], (width, box)  # not covered by the filter panel or another control
    for i, one in enumerate(boxes):
        for other in boxes[i + 1 :]:
            apart = (
                one["right"] <= other["left"] or other["right"] <= one["left"]
                or one["bottom"] <= other["top"] or other["bottom"] <= one["top"]
            )  # fmt: skip
            assert apart, (width, one, other)
