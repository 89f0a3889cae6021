"""Every generated hostile file is accepted or refused as expected, on every engine."""

from __future__ import annotations

import pytest

from images_app.rendering import InvalidImage

from .corpus import cases

pytestmark = [
    pytest.mark.filterwarnings("error::PIL.Image.DecompressionBombWarning"),
    pytest.mark.filterwarnings("ignore:Corrupt EXIF data:UserWarning"),  # odd files on purpose
]


@pytest.mark.parametrize("case", cases(), ids=lambda case: case.name)
def test_hostile_case(case, engine, outcome):
    result = outcome(case.data)
    if case.accepted is True:
        assert not isinstance(result, InvalidImage), f"{case.why}; refused with {result}"
    elif case.accepted is False:
        assert isinstance(result, InvalidImage), f"{case.why}; but it was accepted"


def test_corpus_is_named_uniquely_and_small():
    names = [case.name for case in cases()]
    assert len(names) == len(set(names))
    assert sum(len(case.data) for case in cases()) < 5_000_000
