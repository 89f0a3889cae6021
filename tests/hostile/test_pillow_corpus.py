"""Pillow's own test images (tests/data/pillow): the decodable ones render, the rest are refused.

``pillow_decodes`` in the manifest means Pillow alone, allowed formats only, 60-megapixel
limit and warnings as errors, opens and fully decodes the file. Every file runs on every
engine; they are small (the largest is 1.8 MB), so nothing is sampled.

Where Pillow alone refuses a file that libpng shows correctly, the app accepts it, as the
rule for uploads says (a file a mainstream decoder shows is accepted): ``images.LIBPNG_SHOWS``.
"""

from __future__ import annotations

import json

import pytest

from images_app.rendering import InvalidImage

from ..images import PILLOW_IMAGES as CORPUS
from ..images import shown

ROWS = json.loads((CORPUS / "manifest.json").read_text())

pytestmark = [
    pytest.mark.filterwarnings("ignore"),  # Pillow warns on odd files; outcomes are what count
    pytest.mark.filterwarnings("error::PIL.Image.DecompressionBombWarning"),
]


@pytest.mark.parametrize("row", ROWS, ids=lambda row: row["file"])
def test_corpus_file(row, outcome):
    result = outcome((CORPUS / row["file"]).read_bytes())
    if shown(row):
        assert not isinstance(result, InvalidImage), f"refused: {result} ({result.__cause__!r})"
        info = result[0]
        assert (info.format, info.frames >= 1) == (row.get("format", "PNG"), True)
    else:
        assert isinstance(result, InvalidImage), f"accepted; Pillow says {row['error']}"
