"""Fixtures for the rendering tests: every test that takes ``engine`` runs once per engine."""

import pytest

from images_app.rendering import available_engines

ENGINES = ["vips", "pillow"]


@pytest.fixture(params=ENGINES)
def engine(request) -> str:
    """An engine name; the libvips one is skipped where pyvips does not import."""
    if request.param not in available_engines():
        pytest.skip(f"the {request.param} engine does not import here")
    return request.param
