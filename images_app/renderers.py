"""JSON laid out as the legacy service wrote it: four-space indents, keys in insertion order."""

import json

from rest_framework.renderers import JSONRenderer
from rest_framework.utils.encoders import JSONEncoder


def dumps(data) -> bytes:
    return json.dumps(
        data, cls=JSONEncoder, indent=4, separators=(",", ": "), ensure_ascii=False
    ).encode()


class LegacyJSONRenderer(JSONRenderer):
    """Byte for byte the layout of the legacy service's documented examples (docs/api.md)."""

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        return b"" if data is None else dumps(data)
