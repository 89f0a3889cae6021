"""The rendition record: what ``Image.renditions`` holds for each rendition name.

A stored rendition is a ``Rendition`` (a frozen dataclass), never a dict read with string keys.
``RenditionsField`` is a JSONField whose Python value is ``{name: Rendition}``; it turns records
into JSON objects on the way to the database and back on the way out, for model instances and
for ``values()``/``values_list()`` alike. The JSON is unchanged from the dicts stored before
the record had a type, so no data migration is needed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from django.db import models

from .rendering import Output


@dataclass(frozen=True)
class Rendition:
    """One stored rendition: its file and the spec that made it."""

    key: str  # <prefix>/<name>.<ext> in the app's storage
    width: int
    height: int
    format: str  # JPEG, PNG or WEBP
    bytes: int
    fingerprint: str = ""  # of the RenditionSpec that made it; "" (never current) if unknown

    @classmethod
    def of(cls, output: Output, key: str, fingerprint: str) -> Rendition:
        """The record of ``output`` once it is stored at ``key``."""
        return cls(key, output.width, output.height, output.format, len(output.data), fingerprint)

    @classmethod
    def from_json(cls, data: dict) -> Rendition:
        known = {field.name for field in fields(cls)}
        return cls(**{name: value for name, value in data.items() if name in known})

    def to_json(self) -> dict:
        return asdict(self)


class RenditionsField(models.JSONField):
    """``{name: Rendition}`` in Python, ``{name: {"key", "width", ...}}`` in the database."""

    def from_db_value(self, value, expression, connection):
        return _records(super().from_db_value(value, expression, connection))

    def to_python(self, value):
        return _records(super().to_python(value))

    def get_prep_value(self, value):
        if isinstance(value, dict):
            value = {
                name: entry.to_json() if isinstance(entry, Rendition) else entry
                for name, entry in value.items()
            }
        return super().get_prep_value(value)

    def validate(self, value, model_instance) -> None:
        super().validate(self.get_prep_value(value), model_instance)

    def value_to_string(self, obj):  # dumpdata
        return self.get_prep_value(self.value_from_object(obj))


def _records(value):
    if not isinstance(value, dict) or not all(
        isinstance(entry, dict | Rendition) for entry in value.values()
    ):
        return value  # None, or what a key transform picked out of the JSON
    return {
        name: entry if isinstance(entry, Rendition) else Rendition.from_json(entry)
        for name, entry in value.items()
    }
