"""The admin image library: browse, inspect, upload, re-render and delete, on both storages."""

import re
from html import unescape

import pytest
import requests
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils.formats import date_format
from django.utils.timezone import localtime

from images_app.admin import ImageAdmin
from images_app.bulk import S3Bulk
from images_app.models import Image, ImageType, PendingDeletion
from images_app.storage import get_storage

from . import images
from .conftest import stored_keys_of_rows

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("backend")]

CHANGELIST = "/admin/images_app/image/"
ADD = "/admin/images_app/image/add/"
TIMES = " \N{MULTIPLICATION SIGN} "
# For what storage plays no part in (filters, search, permissions...), one storage is enough.
one_storage = pytest.mark.parametrize("backend", ["filesystem"], indirect=True)
NEW_SPECS = {"thumb": "max-100x100", "square": "max-50x50|format-png"}


def change_url(image: Image) -> str:
    return f"/admin/images_app/image/{image.pk}/change/"


@pytest.fixture
def make_image(admin_user):
    def make(owner=None, size=(64, 48), type=ImageType.PRODUCT, data=None) -> Image:
        data = data or images.jpeg(*size)
        return Image.objects.create_from_upload(owner=owner or admin_user, type=type, data=data)

    return make


def column_index(client, column: str) -> int:
    """The list's ``?o=`` index of ``column`` (the action checkbox is column 0)."""
    return client.get(CHANGELIST).context["cl"].list_display.index(column)


def get_bytes(client, url: str) -> tuple[int, bytes]:
    """A stored file by its URL: relative ones through the app, absolute ones (S3) over HTTP."""
    if url.startswith("/"):
        response = client.get(url)
        body = b"".join(response.streaming_content) if response.streaming else response.content
        return response.status_code, body
    response = requests.get(url, timeout=10)
    return response.status_code, response.content


def image_tags(html: str) -> list[dict[str, str]]:
    return [
        {name: unescape(value) for name, value in re.findall(r'([\w-]+)="([^"]*)"', tag)}
        for tag in re.findall(r"<img\b[^>]*>", html)
    ]


def run_action(client, action: str, selected, **extra):
    data = {"action": action, "_selected_action": [image.pk for image in selected], **extra}
    return client.post(CHANGELIST, data, follow=True)


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


# Browse


def test_list_shows_a_lazy_retina_thumbnail_and_the_columns(admin_client, make_image, user):
    image = make_image(owner=user, size=(640, 480), type=ImageType.ACCOUNT)

    response = admin_client.get(CHANGELIST)

    assert response.status_code == 200
    html = response.content.decode()
    [thumb] = [tag for tag in image_tags(html) if "images-app-thumb" in tag.get("class", "")]
    assert thumb["src"] == image.url("thumb")
    assert thumb["srcset"] == f"{image.url('thumb')} 150w, {image.url('thumb_retina')} 300w"
    entry = image.renditions["thumb"]
    assert (thumb["loading"], thumb["width"], thumb["height"]) == (
        "lazy",
        str(entry.width),
        str(entry.height),
    )
    shown = (user.username, "account", f"640{TIMES}480", filesizeformat(image.bytes))
    for text in (*shown, date_format(localtime(image.created), "j M Y, H:i")):
        assert text in html, text


def test_every_thumbnail_in_the_list_is_served(admin_client, make_image):
    made = [make_image(size=(320, 240)), make_image(data=images.png_rgba(200, 100))]

    html = admin_client.get(CHANGELIST).content.decode()

    sources = [tag for tag in image_tags(html) if "images-app-thumb" in tag.get("class", "")]
    assert len(sources) == len(made)
    for tag in sources:
        for url in [tag["src"], *(part.split()[0] for part in tag["srcset"].split(", "))]:
            status, body = get_bytes(admin_client, url)
            assert status == 200, url
            assert images.decode(body).width in (150, 300, 200)


def test_grid_view_shows_cards_that_actions_can_select(admin_client, make_image):
    made = [make_image(), make_image(type=ImageType.USER)]

    response = admin_client.get(CHANGELIST, {"view": "grid"})

    assert response.status_code == 200
    html = response.content.decode()
    assert 'class="images-app-grid"' in html and 'id="result_list"' in html
    assert 'id="action-toggle"' in html
    for image in made:
        assert f'name="_selected_action" value="{image.pk}"' in html
        assert f"#{image.pk} · {image.get_type_display()}" in html
    assert len(re.findall(r'class="images-app-card"', html)) == 2
    assert 'aria-current="page">Grid<' in html.replace("\n", "").replace("  ", "")


@one_storage
def test_grid_view_is_kept_across_filters_sorting_and_search(admin_client, make_image):
    product, user_image = make_image(), make_image(type=ImageType.USER)

    response = admin_client.get(CHANGELIST, {"view": "grid", "type__exact": ImageType.USER})

    assert response.status_code == 200  # `view` is not taken for a filter (no ?e=1 redirect)
    assert list(response.context["cl"].result_list) == [user_image]
    html = unescape(response.content.decode())
    cl = response.context["cl"]
    assert cl.list_view_url == "?type__exact=2"  # the switch back keeps the filter
    links = set(re.findall(r'href="(\?[^"]*type__exact=[^"]*)"', html)) - {cl.list_view_url}
    assert len(links) > 3  # filters, date hierarchy, sorting
    assert all("view=grid" in link for link in links)
    assert 'name="view" value="grid"' in html  # the search form keeps it
    assert product.pk not in [card.pk for card in response.context["cl"].grid_cards]


@one_storage
def test_grid_sort_links_sort_by_created_and_size(admin_client, make_image):
    small, large = make_image(size=(32, 24)), make_image(size=(640, 480))
    cl = admin_client.get(CHANGELIST, {"view": "grid"}).context["cl"]
    links = {label: url for label, url, _ in cl.grid_sort_links}

    def order(label):
        query = dict(pair.split("=") for pair in links[label].lstrip("?").split("&"))
        return list(admin_client.get(CHANGELIST, query).context["cl"].result_list)

    assert order("Newest") == [large, small]
    assert order("Oldest") == [small, large]
    assert order("Largest") == [large, small]
    assert order("Smallest") == [small, large]


@one_storage
@pytest.mark.parametrize(
    ("column", "field"), [("byte_size", "bytes"), ("created_at", "created"), ("pixels", "width")]
)
def test_list_sorts_by_size_and_created(admin_client, make_image, column, field):
    made = [make_image(size=size) for size in ((640, 480), (32, 24), (200, 150))]
    index = admin_client.get(CHANGELIST).context["cl"].list_display.index(column)

    ascending = admin_client.get(CHANGELIST, {"o": str(index)}).context["cl"].result_list
    descending = admin_client.get(CHANGELIST, {"o": f"-{index}"}).context["cl"].result_list

    expected = sorted(made, key=lambda image: getattr(image, field))
    assert list(ascending) == expected
    assert list(descending) == expected[::-1]


@one_storage
def test_list_filters_by_type_owner_and_date(admin_client, make_image, user, other_user):
    mine, theirs = make_image(owner=user), make_image(owner=other_user, type=ImageType.CATEGORY)

    def listed(**query):
        response = admin_client.get(CHANGELIST, query)
        assert response.status_code == 200, query
        return set(response.context["cl"].result_list)

    assert listed(type__exact=ImageType.CATEGORY) == {theirs}
    assert listed(owner__id__exact=user.pk) == {mine}
    year = mine.created.year
    assert listed(created__year=year) == {mine, theirs}
    assert listed(created__year=year - 1) == set()
    filters = admin_client.get(CHANGELIST).content.decode()
    assert user.username in filters and other_user.username in filters  # owners with images


@one_storage
@pytest.mark.parametrize("term", ["{pk}", "-{pk}", "#{pk}", " {pk} "])
def test_search_by_id_and_legacy_negative_id(admin_client, make_image, term):
    wanted, _other = make_image(), make_image()

    response = admin_client.get(CHANGELIST, {"q": term.format(pk=wanted.pk)})

    assert list(response.context["cl"].result_list) == [wanted]


@one_storage
def test_search_by_owner_username(admin_client, make_image, user, other_user):
    mine, _theirs = make_image(owner=user), make_image(owner=other_user)

    response = admin_client.get(CHANGELIST, {"q": user.username[2:].upper()})

    assert list(response.context["cl"].result_list) == [mine]
    assert (
        list(admin_client.get(CHANGELIST, {"q": "nobody-at-all"}).context["cl"].result_list) == []
    )


# Inspect


def test_change_page_previews_every_rendition_and_the_original(admin_client, make_image):
    image = make_image(size=(400, 300))

    response = admin_client.get(change_url(image))

    assert response.status_code == 200
    html = unescape(response.content.decode())
    previews = {
        tag["alt"].removesuffix(" rendition"): tag
        for tag in image_tags(html)
        if tag.get("alt", "").endswith(" rendition")
    }
    assert set(previews) == {"original", *image.renditions}
    for name, entry in image.renditions.items():
        assert previews[name]["src"] == image.url(name)
        assert (previews[name]["width"], previews[name]["height"]) == (
            str(entry.width),
            str(entry.height),
        )
        assert entry.key in html
        assert f"<dd>{entry.width}{TIMES}{entry.height}</dd>" in html
        status, body = get_bytes(admin_client, image.url(name))
        assert status == 200 and len(body) == entry.bytes
    assert previews["original"]["src"] == image.url("original")
    assert get_bytes(admin_client, image.url("original"))[0] == 200
    for text in (image.checksum, image.key_prefix, image.original_key, f"400{TIMES}300", "JPEG"):
        assert text in html, text
    assert "Also served as image" in html  # the legacy alias of ipad


@one_storage
def test_change_page_keeps_computed_fields_read_only(admin_client, make_image, user):
    image = make_image()
    page = admin_client.get(change_url(image))
    form = page.context["adminform"].form

    assert set(form.fields) == set()  # owner and type are in every storage key: fixed too
    html = page.content.decode()
    created = re.search(r'field-created_at.*?<div class="readonly">(.*?)</div>', html, re.S)[1]
    assert created == date_format(localtime(image.created), "j M Y, H:i")  # as in the list
    row = re.search(r'<div class="submit-row">(.*?)</div>', html, re.S)[1]
    assert 'type="submit"' not in row  # nothing to save: no Save buttons
    assert 'class="closelink"' in row and 'class="deletelink"' in row

    response = admin_client.post(
        change_url(image),
        {
            "owner": user.pk,
            "type": ImageType.CATEGORY,
            "checksum": "0" * 64,
            "width": 1,
            "key_prefix": "elsewhere",
            "_continue": "1",
        },
    )
    assert response.status_code == 302
    changed = Image.objects.get(pk=image.pk)
    assert (changed.owner, changed.type) == (image.owner, image.type)
    assert (changed.checksum, changed.width, changed.key_prefix) == (
        image.checksum,
        image.width,
        image.key_prefix,
    )
    assert changed.renditions == image.renditions


@one_storage
def test_change_page_answers_to_the_legacy_negative_id(admin_client, make_image):
    image = make_image()

    response = admin_client.get(f"/admin/images_app/image/-{image.pk}/change/")

    assert response.status_code == 200
    assert response.context["original"] == image


@one_storage
def test_change_page_marks_renditions_made_with_an_older_spec(admin_client, make_image, settings):
    image = make_image()
    settings.IMAGES_APP = {"RENDITIONS": NEW_SPECS, "ALIASES": {}}

    html = admin_client.get(change_url(image)).content.decode()

    assert "Made with an older spec: re-render to update" in html  # thumb, now 100x100
    assert html.count("No longer in the rendition settings") == 4


# Upload


def upload_form(data: bytes, *, owner, type=ImageType.PRODUCT, name="photo.jpg", **extra):
    return {"file": SimpleUploadedFile(name, data), "type": type, "owner": owner.pk, **extra}


@one_storage
def test_add_form_takes_a_file_a_type_and_an_owner_defaulting_to_me(admin_client, admin_user):
    response = admin_client.get(ADD)

    assert response.status_code == 200
    form = response.context["adminform"].form
    assert list(form.fields) == ["file", "type", "owner"]
    assert form.initial["owner"] == admin_user.pk
    html = response.content.decode()
    assert 'enctype="multipart/form-data"' in html
    assert 'value="Upload"' in html
    assert "20 MiB" in html and "60 megapixels" in html


def test_upload_stores_the_image_and_opens_it(admin_client, user, backend):
    response = admin_client.post(
        ADD, upload_form(images.png_rgba(320, 240), owner=user, type=ImageType.USER)
    )

    image = Image.objects.get()
    assert response.status_code == 302
    assert response["Location"] == change_url(image)
    assert (image.owner, image.type, image.format) == (user, ImageType.USER, "PNG")
    assert (image.width, image.height) == (320, 240)
    assert set(image.renditions) == {"thumb", "thumb_retina", "ipad", "ipad_retina", "ebay"}
    assert image.renditions["thumb"].format == "PNG"  # transparency kept
    assert backend.keys() == set(image.stored_keys())
    assert image.key_prefix.startswith(f"uploads/{user.pk}/user/")
    page = admin_client.get(response["Location"])
    assert "Uploaded" in " ".join(messages_of(page))


@one_storage
def test_upload_and_add_another(admin_client, admin_user):
    response = admin_client.post(
        ADD, upload_form(images.jpeg(64, 48), owner=admin_user, _addanother="1")
    )

    assert response.status_code == 302
    assert response["Location"] == ADD
    assert Image.objects.count() == 1


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "Upload a valid image"),
        (b"just some text, not a picture", "Upload a valid image"),
        (images.png_bomb(), "Image is 144 megapixels; the limit is 60."),
    ],
    ids=["svg", "text", "too-many-pixels"],
)
def test_upload_refused_by_the_pipeline_is_a_form_error(
    admin_client, admin_user, backend, data, message
):
    response = admin_client.post(ADD, upload_form(data, owner=admin_user))

    assert response.status_code == 200
    assert message in " ".join(response.context["adminform"].form.errors["file"])
    assert message in unescape(response.content.decode())
    assert not Image.objects.exists()
    assert backend.keys() == set()


@one_storage
@pytest.mark.parametrize(
    ("size", "message"),
    [
        (1536 * 1024, "File is 1.5 MiB; the limit is 1 MiB."),
        (1024 * 1024 + 1, "File is 1,048,577 bytes; the limit is 1,048,576 bytes."),
    ],
)
def test_upload_over_the_byte_limit_is_a_form_error(
    admin_client, admin_user, backend, settings, size, message
):
    settings.IMAGES_APP = {"MAX_BYTES": 1024 * 1024}

    response = admin_client.post(
        ADD, upload_form(images.jpeg(64, 48).ljust(size, b"\0"), owner=admin_user)
    )

    errors = response.context["adminform"].form.errors
    assert errors["file"] == [message]
    assert not Image.objects.exists()
    assert backend.keys() == set()


@one_storage
def test_empty_upload_is_a_form_error(admin_client, admin_user):
    response = admin_client.post(ADD, upload_form(b"", owner=admin_user))

    assert response.context["adminform"].form.errors["file"] == ["The submitted file is empty."]
    assert not Image.objects.exists()


def fail_writes(monkeypatch, failing) -> None:
    """The image storage refuses the files ``failing(key)`` names, whichever way the app writes
    one: Django's ``save``, or on S3 one PutObject (``S3Bulk.write``)."""
    storage = get_storage()
    real_save, real_put = storage.save, S3Bulk.write

    def save(name, content, *args, **kwargs):
        if failing(name):
            raise OSError("disk on fire")
        return real_save(name, content, *args, **kwargs)

    def put(self, key, data, content_type, **options):
        if failing(key):
            raise OSError("disk on fire")
        return real_put(self, key, data, content_type, **options)

    monkeypatch.setattr(storage, "save", save)
    monkeypatch.setattr(S3Bulk, "write", put)


def test_upload_when_storage_fails_says_so_and_keeps_nothing(
    admin_client, admin_user, backend, monkeypatch
):
    fail_writes(monkeypatch, lambda name: "/ipad." in name)  # the fourth file; three written

    response = admin_client.post(ADD, upload_form(images.jpeg(64, 48), owner=admin_user))

    assert response.status_code == 200
    [error] = response.context["adminform"].form.non_field_errors()
    assert error.startswith("Image storage is unavailable, so nothing was stored.")
    assert "storage is unavailable" in response.content.decode()
    assert not Image.objects.exists()
    assert backend.keys() == set()


@one_storage
def test_upload_with_a_missing_owner_stores_nothing(admin_client, backend):
    response = admin_client.post(
        ADD, {"file": SimpleUploadedFile("p.jpg", images.jpeg(64, 48)), "type": 0, "owner": ""}
    )

    assert response.status_code == 200
    assert "owner" in response.context["adminform"].form.errors
    assert backend.keys() == set()


# Re-render


def test_rerender_action_applies_the_current_specs(
    admin_client, make_image, backend, settings, django_capture_on_commit_callbacks
):
    image, untouched = make_image(size=(400, 300)), make_image()
    before = dict(image.renditions)
    settings.IMAGES_APP = {"RENDITIONS": NEW_SPECS, "ALIASES": {}}

    with django_capture_on_commit_callbacks(execute=True):
        response = run_action(admin_client, "rerender_selected", [image])

    assert messages_of(response) == ["Re-rendered 1 image."]
    image.refresh_from_db()
    assert set(image.renditions) == {"thumb", "square"}
    assert image.renditions["thumb"].key == before["thumb"].key  # overwritten in place
    assert (image.renditions["thumb"].width, image.renditions["thumb"].height) == (100, 75)
    assert image.renditions["square"].key == f"{image.key_prefix}/square.png"
    assert image.renditions["square"].format == "PNG"
    for name, entry in image.renditions.items():
        status, body = get_bytes(admin_client, image.url(name))
        assert status == 200
        assert images.decode(body).size == (entry.width, entry.height), name
        assert len(body) == entry.bytes
    assert backend.keys() == stored_keys_of_rows()  # dropped renditions' files are gone
    assert Image.objects.get(pk=untouched.pk).renditions == untouched.renditions
    assert not PendingDeletion.objects.exists()


def test_rerender_action_on_up_to_date_images_says_so_and_keeps_every_file(
    admin_client, make_image, backend, django_capture_on_commit_callbacks
):
    made = [make_image(), make_image()]
    before = backend.keys()

    with django_capture_on_commit_callbacks(execute=True):
        response = run_action(admin_client, "rerender_selected", made)

    assert messages_of(response) == ["2 images already up to date with the rendition settings."]
    assert backend.keys() == before
    assert [Image.objects.get(pk=image.pk).renditions for image in made] == [
        image.renditions for image in made
    ]


def test_rerender_action_into_another_format_replaces_the_file(
    admin_client, make_image, backend, settings, django_capture_on_commit_callbacks
):
    image = make_image()
    old_key = image.renditions["thumb"].key
    settings.IMAGES_APP = {"RENDITIONS": {"thumb": "max-150x150|format-webp"}, "ALIASES": {}}

    with django_capture_on_commit_callbacks(execute=True):
        run_action(admin_client, "rerender_selected", [image])

    image.refresh_from_db()
    assert image.renditions["thumb"].key == old_key.replace(".jpg", ".webp")
    assert image.renditions["thumb"].format == "WEBP"
    stored = backend.keys()
    assert old_key not in stored
    assert stored == set(image.stored_keys())


def test_rerender_storage_failure_is_reported_and_leaves_no_stray_files(
    admin_client, make_image, backend, settings, monkeypatch, django_capture_on_commit_callbacks
):
    image = make_image(size=(400, 300))
    settings.IMAGES_APP = {"RENDITIONS": NEW_SPECS, "ALIASES": {}}
    fail_writes(monkeypatch, lambda name: name.endswith("/square.png"))

    with django_capture_on_commit_callbacks(execute=True):
        response = run_action(admin_client, "rerender_selected", [image])

    [message] = messages_of(response)
    assert message.startswith(f"Could not re-render image {image.pk}: ")
    image.refresh_from_db()
    assert image.renditions["thumb"].width == 100  # overwritten in place: described as is
    assert "square" not in image.renditions
    assert backend.keys() == set(image.stored_keys())
    for name in image.renditions:
        assert get_bytes(admin_client, image.url(name))[0] == 200


@one_storage
def test_rerender_button_on_the_change_page(
    admin_client, make_image, settings, django_capture_on_commit_callbacks
):
    image = make_image()
    settings.IMAGES_APP = {"RENDITIONS": NEW_SPECS, "ALIASES": {}}
    url = f"/admin/images_app/image/{image.pk}/rerender/"
    assert f'action="{url}"' in admin_client.get(change_url(image)).content.decode()

    assert admin_client.get(url).status_code == 405
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(url)

    assert response.status_code == 302
    assert response["Location"] == change_url(image)
    image.refresh_from_db()
    assert set(image.renditions) == {"thumb", "square"}
    assert admin_client.post("/admin/images_app/image/999999/rerender/").status_code == 404


# Delete


def test_delete_page_removes_the_row_and_every_file(
    admin_client, make_image, backend, django_capture_on_commit_callbacks
):
    image, kept = make_image(), make_image()
    delete_url = f"/admin/images_app/image/{image.pk}/delete/"
    assert "deleted from storage too" in admin_client.get(delete_url).content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(delete_url, {"post": "yes"})

    assert response.status_code == 302
    assert list(Image.objects.all()) == [kept]
    assert backend.keys() == set(kept.stored_keys())
    assert not PendingDeletion.objects.exists()


def test_bulk_delete_removes_the_rows_and_every_file(
    admin_client, make_image, backend, django_capture_on_commit_callbacks
):
    doomed = [make_image(), make_image(type=ImageType.USER), make_image(size=(300, 200))]
    kept = make_image()
    confirm = run_action(admin_client, "delete_selected", doomed)
    assert "deleted from storage too" in confirm.content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        response = run_action(admin_client, "delete_selected", doomed, post="yes")

    assert "Successfully deleted 3 images." in messages_of(response)
    assert list(Image.objects.all()) == [kept]
    assert backend.keys() == set(kept.stored_keys())
    assert not PendingDeletion.objects.exists()


# Permissions


@pytest.fixture
def staff(django_user_model):
    def make(*codenames: str):
        member = django_user_model.objects.create_user(
            username=f"staff-{'-'.join(codenames) or 'none'}", password="pw", is_staff=True
        )
        member.user_permissions.set(
            Permission.objects.filter(content_type__app_label="images_app", codename__in=codenames)
        )
        return member

    return make


def admin_pages(image: Image) -> list[str]:
    return [CHANGELIST, f"{CHANGELIST}?view=grid", ADD, change_url(image)]


@one_storage
def test_anonymous_and_non_staff_users_are_sent_to_the_login(client, make_image, user):
    image = make_image()
    for logged_in in (False, True):
        if logged_in:
            client.force_login(user)  # a user, not staff
        for url in admin_pages(image):
            response = client.get(url)
            assert response.status_code == 302, url
            assert response["Location"].startswith("/admin/login/"), url
        response = client.post(f"/admin/images_app/image/{image.pk}/rerender/")
        assert response.status_code == 302


@one_storage
def test_staff_without_the_models_permissions_is_refused(client, make_image, staff):
    image = make_image()
    client.force_login(staff())

    for url in admin_pages(image):
        assert client.get(url).status_code == 403, url
    assert client.post(f"/admin/images_app/image/{image.pk}/rerender/").status_code == 403
    assert client.post(ADD, upload_form(images.jpeg(8, 8), owner=image.owner)).status_code == 403
    response = client.post(
        CHANGELIST, {"action": "delete_selected", "_selected_action": [image.pk], "post": "yes"}
    )
    assert response.status_code == 403
    assert Image.objects.filter(pk=image.pk).exists()
    assert "images_app" not in str(client.get("/admin/").context["available_apps"])


@one_storage
def test_staff_with_view_permission_only_browses(client, make_image, staff):
    image = make_image()
    client.force_login(staff("view_image"))

    listing = client.get(CHANGELIST)
    assert listing.status_code == 200
    assert list(listing.context["cl"].result_list) == [image]
    assert "action_form" not in listing.context or listing.context["action_form"] is None
    page = client.get(change_url(image))
    assert page.status_code == 200
    assert page.context["adminform"].form.fields == {}
    assert page.context["can_rerender"] is False
    assert client.get(ADD).status_code == 403
    assert client.post(f"/admin/images_app/image/{image.pk}/rerender/").status_code == 403


@one_storage
def test_actions_follow_the_change_and_delete_permissions(client, make_image, staff):
    make_image()
    client.force_login(staff("view_image", "change_image"))

    choices = dict(client.get(CHANGELIST).context["action_form"].fields["action"].choices)

    assert "rerender_selected" in choices
    assert "delete_selected" not in choices


@one_storage
def test_changelist_url_names_are_the_admins(make_image):
    image = make_image()
    assert reverse("admin:images_app_image_rerender", args=[image.pk]) == (
        f"/admin/images_app/image/{image.pk}/rerender/"
    )


@one_storage
def test_a_page_past_the_end_shows_the_last_page_keeping_the_view_and_filters(
    admin_client, make_image, monkeypatch
):
    monkeypatch.setattr(ImageAdmin, "list_per_page", 2)
    made = [make_image() for _ in range(3)]
    oldest_first = str(column_index(admin_client, "created_at"))
    query = {"view": "grid", "o": oldest_first, "type__exact": ImageType.PRODUCT, "p": "5"}

    response = admin_client.get(CHANGELIST, query)

    assert response.status_code == 200  # not Django's redirect to ?e=1, which drops them all
    cl = response.context["cl"]
    assert (cl.page_num, cl.is_grid) == (2, True)
    assert cl.params["type__exact"] == str(ImageType.PRODUCT)
    assert [card.pk for card in cl.grid_cards] == [made[2].pk]  # oldest first: the newest last


@one_storage
@pytest.mark.parametrize("column", ["owner", "type"])
def test_a_column_without_a_sort_link_does_not_sort_from_the_url_either(
    admin_client, make_image, user, column
):
    # By owner id or type value the admin's product image would come first; by age it is last.
    newer_first = [make_image(), make_image(owner=user, type=ImageType.USER)][::-1]

    response = admin_client.get(CHANGELIST, {"o": str(column_index(admin_client, column))})

    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == newer_first  # the default: newest first
