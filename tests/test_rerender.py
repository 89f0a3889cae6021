"""Spec changes: rerender(), manage.py rerender_images, and the checks that guard the spec."""

import io
import os
import signal

import pytest
from django.core.checks import Tags, run_checks
from django.core.management import CommandError, call_command

from images_app import checks
from images_app.models import Image
from images_app.rendering import parse_spec
from images_app.rerender import plan, rerender
from images_app.storage import StorageFailure, get_storage

from . import images
from .conftest import stored_keys_of_rows

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("backend")]

DEFAULT = {
    "thumb": "max-150x150",
    "thumb_retina": "max-300x300",
    "ipad": "max-1024x1024",
    "ipad_retina": "max-2048x2048",
    "ebay": "max-1600x1600",
}
# thumb shrinks, ebay leaves, small arrives; the other three are untouched.
CHANGED = {**DEFAULT, "thumb": "max-100x100"} | {"small": "max-50x50"}
del CHANGED["ebay"]


@pytest.fixture
def spec(settings):
    def use(renditions: dict, aliases: dict | None = None) -> None:
        settings.IMAGES_APP = {"RENDITIONS": renditions, "ALIASES": aliases or {"image": "ipad"}}

    return use


@pytest.fixture
def commit(django_capture_on_commit_callbacks):
    """``with commit(): ...`` runs the after-commit deletions as a real transaction would."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def upload(owner, width: int = 400, height: int = 300, **kwargs) -> Image:
    data = images.jpeg(width, height, **kwargs)
    return Image.objects.create_from_upload(owner=owner, type=0, data=data)


def stored(key: str):
    with get_storage().open(key, "rb") as handle:
        return images.decode(handle.read())


def fingerprint(name: str, text: str) -> str:
    return parse_spec(name, text).fingerprint


def test_only_stale_renditions_are_redone_and_gone_ones_removed(user, spec, backend, commit):
    image = upload(user)
    before = dict(image.renditions)
    spec(CHANGED)

    with commit():
        assert rerender(image) == ["thumb", "small", "ebay"]

    row = Image.objects.get()
    assert set(row.renditions) == set(CHANGED)
    for name in ("thumb_retina", "ipad", "ipad_retina"):
        assert row.renditions[name] == before[name], name  # untouched: same key, same file
    assert row.renditions["thumb"].key == before["thumb"].key  # in place: URL still works
    assert row.renditions["thumb"].fingerprint == fingerprint("thumb", "max-100x100")
    assert stored(row.renditions["thumb"].key).size == (100, 75)
    assert stored(row.renditions["small"].key).size == (50, 38)
    assert row.renditions["small"].width == 50
    left = backend.keys()
    assert before["ebay"].key not in left
    assert backend.keys() == stored_keys_of_rows()
    assert image.renditions == row.renditions


def test_a_second_run_has_nothing_to_do(user, spec, commit):
    image = upload(user)
    spec(CHANGED)
    rerender(image)

    assert not plan(Image.objects.get())
    assert rerender(Image.objects.get()) == []


def test_only_limits_the_names(user, spec, commit):
    image = upload(user)
    spec(CHANGED)

    assert rerender(image, only=["small"]) == ["small"]

    assert plan(Image.objects.get()).names == ["thumb", "ebay"]


def test_a_new_format_gets_a_new_key_and_the_old_file_goes(user, spec, backend, commit):
    image = upload(user)
    old_key = image.renditions["thumb"].key
    spec({**DEFAULT, "thumb": "max-150x150|format-png"})

    with commit():
        assert rerender(image) == ["thumb"]

    new_key = Image.objects.get().renditions["thumb"].key
    assert new_key == old_key.removesuffix(".jpg") + ".png"
    assert stored(new_key).format == "PNG"
    left = backend.keys()
    assert old_key not in left
    assert backend.keys() == stored_keys_of_rows()


def test_an_image_deleted_meanwhile_stays_deleted_and_leaves_no_files(user, spec, backend, commit):
    image = upload(user)
    with commit():
        Image.objects.filter(pk=image.pk).delete()
    spec(CHANGED)

    with commit():
        assert rerender(image) == []

    assert not Image.objects.exists()
    assert backend.keys() == set()


def test_an_image_deleted_while_rendering_leaves_no_files(user, spec, backend, commit, monkeypatch):
    import images_app.rerender as module

    image = upload(user)
    spec(CHANGED)
    real_render = module._render

    def render_then_delete(*args):
        outputs = real_render(*args)
        with commit():
            Image.objects.filter(pk=image.pk).delete()  # a DELETE request, meanwhile
        return outputs

    monkeypatch.setattr(module, "_render", render_then_delete)
    with commit():
        assert rerender(image) == []

    assert not Image.objects.exists()
    assert backend.keys() == set()


def test_a_concurrent_update_of_other_renditions_is_kept(user, spec, commit):
    upload(user)
    stale_copy = Image.objects.get()
    spec({**DEFAULT, "thumb": "max-100x100", "ipad": "max-800x800"})
    rerender(Image.objects.get(), only=["ipad"])  # another run, between our read and our write

    rerender(stale_copy, only=["thumb"])

    row = Image.objects.get()
    assert row.renditions["ipad"].fingerprint == fingerprint("ipad", "max-800x800")
    assert row.renditions["thumb"].fingerprint == fingerprint("thumb", "max-100x100")


def test_a_failed_write_keeps_what_was_written_and_claims_nothing_else(
    user, spec, backend, commit, monkeypatch
):
    import images_app.pipeline as module

    image = upload(user)
    spec(CHANGED)
    real_write = module.write

    def failing_write(storage, key, data, content_type, **options):
        if "/small." in key:
            raise StorageFailure(f"Could not write {key}: boom")
        real_write(storage, key, data, content_type, **options)

    monkeypatch.setattr(module, "write", failing_write)

    with pytest.raises(StorageFailure), commit():
        rerender(image)

    row = Image.objects.get()
    assert "small" not in row.renditions
    assert row.renditions["thumb"].fingerprint == fingerprint("thumb", "max-100x100")
    assert backend.keys() == stored_keys_of_rows()
    monkeypatch.setattr(module, "write", real_write)
    assert rerender(row) == ["small"]  # the re-run finishes the job


def test_renders_from_the_stored_original_with_its_orientation(user, spec):
    image = upload(user, 400, 300, orientation=6)  # shown rotated: 300 x 400
    spec({**DEFAULT, "thumb": "max-100x100"})

    rerender(image, only=["thumb"])

    assert stored(Image.objects.get().renditions["thumb"].key).size == (75, 100)


# manage.py rerender_images


def run(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("rerender_images", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_dry_run_says_what_would_change_and_changes_nothing(user, spec):
    images_ = [upload(user) for _ in range(2)]
    before = {image.pk: image.renditions for image in images_}
    spec(CHANGED)

    out, _ = run("--dry-run", "-v", "2")

    assert f"image {images_[0].pk}: would redo thumb, small, remove ebay" in out
    assert "Dry run: 2 images checked, 2 would change (ebay: 2, small: 2, thumb: 2)." in out
    assert {image.pk: image.renditions for image in Image.objects.all()} == before


def test_the_command_updates_everything_and_shows_progress(user, spec, backend, commit):
    for _ in range(3):
        upload(user)
    spec(CHANGED)

    with commit():
        out, _ = run("--progress-every", "0")

    assert "1/3 images checked (33%), 1 updated, 0 failed" in out
    assert "3 images checked, 3 updated (ebay: 3, small: 3, thumb: 3), 0 failed." in out
    assert all(not plan(image) for image in Image.objects.all())
    assert backend.keys() == stored_keys_of_rows()
    assert "0 updated" in run()[0]


def test_owner_and_only_narrow_the_run(user, other_user, spec, commit):
    mine, theirs = upload(user), upload(other_user)
    spec(CHANGED)

    out, _ = run("--owner", str(user.pk), "--only", "small", "image")  # image: ipad, up to date

    assert "1 images checked, 1 updated (small: 1), 0 failed." in out
    assert plan(Image.objects.get(pk=mine.pk)).names == ["thumb", "ebay"]
    assert plan(Image.objects.get(pk=theirs.pk)).names == ["thumb", "small", "ebay"]


def test_ctrl_c_stops_after_the_current_image_and_a_rerun_finishes(user, spec, commit, monkeypatch):
    import images_app.management.commands.rerender_images as command

    for _ in range(3):
        upload(user)
    spec(CHANGED)
    real_rerender = command.rerender

    def interrupted(image, only=None):
        os.kill(os.getpid(), signal.SIGINT)  # arrives while this image is being redone
        return real_rerender(image, only)

    monkeypatch.setattr(command, "rerender", interrupted)
    with pytest.raises(CommandError, match="Interrupted after 1 of 3; run again"):
        run()
    assert sum(not plan(image) for image in Image.objects.all()) == 1

    monkeypatch.setattr(command, "rerender", real_rerender)
    assert "3 images checked, 2 updated" in run()[0]
    assert all(not plan(image) for image in Image.objects.all())


def test_failures_are_reported_and_fail_the_command(user, spec, commit):
    broken = upload(user)
    get_storage().delete(broken.original_key)
    upload(user)
    spec(CHANGED)

    with pytest.raises(CommandError, match="1 images failed; run again"):
        run()


# System checks


def database_checks() -> list:
    messages = run_checks(tags=[Tags.database], databases=["default"])
    return [message for message in messages if (message.id or "").startswith("images_app.")]


def test_w001_warns_when_stored_renditions_are_stale(user, spec):
    upload(user)
    assert database_checks() == []

    spec(CHANGED)
    (warning,) = database_checks()

    assert warning.id == "images_app.W001"
    assert "1 of 1 sampled images" in warning.msg
    assert "ebay, small, thumb" in warning.msg
    assert "rerender_images" in warning.hint


def test_w001_is_quiet_without_images_and_without_the_database(spec):
    spec(CHANGED)
    assert checks.check_stale_renditions(databases=["default"]) == []
    assert checks.check_stale_renditions(databases=None) == []  # plain `manage.py check`


def test_w001_samples_a_bounded_number_of_rows(user, spec, django_assert_max_num_queries):
    for _ in range(3):
        upload(user, 40, 30)
    spec(CHANGED)

    with django_assert_max_num_queries(1 + checks.SAMPLE_POINTS + 1):
        (warning,) = checks.check_stale_renditions(databases=["default"])
    assert "3 of 3 sampled images" in warning.msg


@pytest.mark.parametrize(
    ("renditions", "words"),
    [
        ({"thumb": "min-150x150"}, ["'thumb'", "max-WIDTHxHEIGHT"]),
        ({"thumb": "max-0x150"}, ["'thumb'", "from 1 to 16384"]),
        ({"thumb": "max-150x150|format-tiff"}, ["'thumb'", "format-"]),
    ],
)
def test_e001_refuses_an_invalid_spec_naming_the_setting(spec, renditions, words):
    spec(renditions, aliases={})

    errors = [m for m in run_checks() if m.id == "images_app.E001"]

    assert len(errors) == 1
    assert errors[0].is_serious()
    assert 'IMAGES_APP["RENDITIONS"]' in errors[0].msg
    for word in words:
        assert word in errors[0].msg
