"""images_app/conf.py: IMAGES_APP read through app_settings, defaults filled in, typos refused."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from images_app.conf import DEFAULTS, app_settings


def test_without_images_app_every_key_is_its_default(settings):
    del settings.IMAGES_APP

    assert {name: getattr(app_settings, name) for name in DEFAULTS} == DEFAULTS


def test_a_key_set_in_images_app_wins_and_the_others_keep_their_defaults(settings):
    settings.IMAGES_APP = {"MAX_FRAMES": 3}

    assert app_settings.MAX_FRAMES == 3
    assert app_settings.MAX_PIXELS == 60_000_000  # the default


def test_a_changed_setting_is_read_again(settings):
    settings.IMAGES_APP = {"UPLOAD_RATE": "1/min"}
    assert app_settings.UPLOAD_RATE == "1/min"

    settings.IMAGES_APP = {"UPLOAD_RATE": None}
    assert app_settings.UPLOAD_RATE is None


def test_an_unknown_key_is_refused_naming_it_and_the_known_keys(settings):
    settings.IMAGES_APP = {"MAX_PIXEL": 10, "RENDITION": {}}

    with pytest.raises(ImproperlyConfigured) as refused:
        app_settings.MAX_PIXELS  # noqa: B018  (reading is what refuses)

    message = str(refused.value)
    assert "Unknown key(s) in settings.IMAGES_APP: MAX_PIXEL, RENDITION." in message
    assert "MAX_PIXELS" in message and "RENDITIONS" in message


def test_a_name_that_is_no_setting_is_an_attribute_error():
    with pytest.raises(AttributeError, match="'MAX_PIXEL'"):
        app_settings.MAX_PIXEL  # noqa: B018
