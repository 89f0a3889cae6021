"""Fixtures for the rendering tests: every test that takes ``engine`` runs once per engine."""

import pytest

from images_app.rendering import available_engines

ENGINES = ["vips", "pillow"]


@pytest.fixture(params=ENGINES)
def engine(request) -> str:
    """An engine name. Both are required here (pyvips is pinned): a missing one fails."""
    assert request.param in available_engines(), f"the {request.param} engine does not import"
    return request.param
