"""System checks refuse configurations that would break the contract, naming the setting."""

import pytest
from PIL import ImageFile

from images_app.checks import check_engine, check_renditions, check_upload_safety


def ids(messages) -> list[str]:
    return [message.id for message in messages]


def test_the_default_configuration_passes():
    assert check_renditions() == []
    assert check_upload_safety() == []
    assert check_engine() == []


@pytest.mark.parametrize("spec", ["150x150", "max-0x10", "max-10x10|format-bmp", "max-axb"])
def test_a_bad_rendition_spec_is_e001_naming_the_setting(settings, spec):
    settings.IMAGES_APP = {"RENDITIONS": {"thumb": spec}, "ALIASES": {}}
    (error,) = check_renditions()

    assert error.id == "images_app.E001"
    assert 'IMAGES_APP["RENDITIONS"]' in error.msg
    assert "'thumb'" in error.msg


def test_an_alias_to_a_missing_rendition_is_e002(settings):
    settings.IMAGES_APP = {"ALIASES": {"image": "huge"}}
    assert ids(check_renditions()) == ["images_app.E002"]


def test_a_format_without_a_metadata_rewriter_is_e003(settings):
    settings.IMAGES_APP = {"FORMATS": ["JPEG", "TIFF"]}
    (error,) = check_upload_safety()

    assert error.id == "images_app.E003"
    assert "'TIFF'" in error.msg


def test_loading_truncated_images_is_e004(monkeypatch):
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    assert ids(check_upload_safety()) == ["images_app.E004"]


@pytest.mark.parametrize("engine", ["imagemagick", "myproject.engines.Missing"])
def test_an_engine_setting_that_does_not_resolve_is_e005_naming_it(settings, engine):
    settings.IMAGES_APP = {"ENGINE": engine}
    (error,) = check_engine()

    assert error.id == "images_app.E005"
    assert f'IMAGES_APP["ENGINE"] = {engine!r}' in error.msg


def test_an_engine_named_by_dotted_path_passes(settings):
    settings.IMAGES_APP = {"ENGINE": "images_app.rendering.engines.pillow.PillowEngine"}
    assert check_engine() == []
