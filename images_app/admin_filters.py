"""The admin list's filters, each answered from an index, none of them listing the table.

Django's stock filters read their choices from the data: ``RelatedOnlyFieldListFilter`` lists
every owner who has an image (20,000 links at a million images), a plain field filter runs a
``DISTINCT`` over the whole table, ``date_hierarchy`` a MIN/MAX and a ``DISTINCT date_trunc``.
Here the choices are fixed (types, formats, date ranges) or typed in (the owner), and each
filter is backed by an index that also serves the list's newest-first order (see ``Image.Meta``).
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.http import HttpRequest

from .conf import app_settings

OWNER_VAR = "owner"
OWNER_ID_VAR = "owner__id__exact"  # what Django's own owner filter and old links use


class FormatFilter(admin.SimpleListFilter):
    """The original's format, from the accepted formats: fixed choices, no DISTINCT."""

    title = "format"
    parameter_name = "format"

    def lookups(self, request: HttpRequest, model_admin) -> list[tuple[str, str]]:
        return [(name, name) for name in app_settings.FORMATS]

    def queryset(self, request: HttpRequest, queryset):
        return queryset.filter(format=self.value()) if self.value() else queryset


class OwnerFilter(admin.ListFilter):
    """A box for an owner's id or exact username, instead of a link per owner.

    ``?owner=alice`` or ``?owner=42`` (``?owner__id__exact=42`` too): the user is looked up once,
    by primary key or by the unique username, and the list is that owner's images.
    """

    title = "owner"
    template = "admin/images_app/image/owner_filter.html"

    def __init__(self, request: HttpRequest, params: dict, model, model_admin):
        super().__init__(request, params, model, model_admin)
        for name in (OWNER_ID_VAR, OWNER_VAR):
            if name in params:
                self.used_parameters[name] = params.pop(name)[-1].strip()
        self.value = next(iter(self.used_parameters.values()), "")
        self.owner = self.find_owner(self.value) if self.value else None

    @staticmethod
    def find_owner(value: str):
        User = get_user_model()
        if value.lstrip("#").isdigit():
            return User._default_manager.filter(pk=int(value.lstrip("#"))).first()
        return User._default_manager.filter(**{User.USERNAME_FIELD: value}).first()

    def has_output(self) -> bool:
        return True

    def expected_parameters(self) -> list[str]:
        return [OWNER_VAR, OWNER_ID_VAR]

    def queryset(self, request: HttpRequest, queryset):
        if not self.value:
            return queryset
        if self.owner is None:
            return queryset.none()
        return queryset.filter(owner_id=self.owner.pk)

    def choices(self, changelist) -> list[dict]:
        """One entry: what the template needs for the box and the "All" link."""
        keep = {
            name: value
            for name, value in changelist.params.items()
            if name not in (OWNER_VAR, OWNER_ID_VAR, "p", "e")
        }
        return [
            {
                "selected": not self.value,
                "query_string": changelist.get_query_string(remove=self.expected_parameters()),
                "display": "All",
                "value": self.value,
                "owner": self.owner,
                "keep": sorted(keep.items()),
            }
        ]
