"""The image library in the Django admin: browse (list or grid), inspect, upload, re-render, delete.

Uploads go through ``Image.objects.create_from_upload`` (see ``forms.py``), so the admin keeps the
API's limits and messages; re-rendering is ``rerender.rerender()``, as ``manage.py rerender_images``
does it. Deletes, single or bulk, take the files with them through the post_delete receiver in
``deletion.py``: ``QuerySet.delete()`` sends it for every row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.contrib import admin, messages
from django.contrib.admin.options import IS_POPUP_VAR, IncorrectLookupParameters
from django.contrib.admin.templatetags.admin_urls import add_preserved_filters
from django.contrib.admin.utils import quote
from django.contrib.admin.views.main import ORDER_VAR, ChangeList
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import F
from django.http import Http404, HttpRequest, HttpResponseRedirect
from django.template.defaultfilters import filesizeformat
from django.urls import path, reverse
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.timezone import localtime
from django.views.decorators.http import require_POST

from .admin_filters import FormatFilter, OwnerFilter
from .conf import app_settings
from .forms import ImageUploadForm
from .models import Image
from .pagination import EstimatedCountPaginator
from .rendering import InvalidImage
from .rerender import rerender
from .specs import ORIGINAL, aliases, rendition_specs
from .storage import StorageFailure
from .tasks import enqueue_rerender

# -- Presentation ------------------------------------------------------------------------------

# The renditions the list and the grid show, the retina one for high-density screens.
THUMB, THUMB_RETINA = "thumb", "thumb_retina"


def pixel_size(width: int, height: int) -> str:
    return f"{width} \N{MULTIPLICATION SIGN} {height}"


# What every browser shows in an <img>. Chromium has no HEIC decoder, and AVIF is missing from
# older browsers: a tile for such a file shows a rendition of the same image instead.
BROWSER_FORMATS = {"JPEG", "PNG", "GIF", "WEBP"}


@dataclass(frozen=True)
class RenditionRow:
    """One file of an image, as the change page shows it; ``preview_url`` is what its tile shows."""

    name: str
    width: int
    height: int
    format: str
    bytes: int
    key: str
    url: str
    note: str = ""
    outdated: bool = False
    preview_url: str = ""
    preview_width: int = 0
    preview_height: int = 0

    @property
    def pixels(self) -> str:
        return pixel_size(self.width, self.height)


def rendition_rows(image: Image) -> list[RenditionRow]:
    """The original, then every rendition from the smallest up, with what the spec says of it."""
    fingerprints = {spec.name: spec.fingerprint for spec in rendition_specs()}
    also = {}
    for alias, target in aliases().items():
        also.setdefault(target, []).append(alias)
    rows = [original_row(image)]
    ordered = sorted(image.renditions.items(), key=lambda item: (item[1].width, item[0]))
    for name, entry in ordered:
        current = fingerprints.get(name)
        if current is None:
            note = "No longer in the rendition settings"
        elif current != entry.fingerprint:
            note = "Made with an older spec: re-render to update"
        else:
            note = f"Also served as {', '.join(also[name])}" if name in also else ""
        url = image.url(name)
        rows.append(
            RenditionRow(
                name=name,
                width=entry.width,
                height=entry.height,
                format=entry.format,
                bytes=entry.bytes,
                key=entry.key,
                url=url,
                note=note,
                outdated=current != entry.fingerprint,
                preview_url=url,
                preview_width=entry.width,
                preview_height=entry.height,
            )
        )
    return rows


def original_row(image: Image) -> RenditionRow:
    """The original's tile: the file itself, or, where browsers cannot show it, a stand-in."""
    url = image.url(ORIGINAL)
    note = "As uploaded; metadata but orientation and colour profile removed"
    preview = (url, image.width, image.height)
    if image.format not in BROWSER_FORMATS:
        shown = [
            (entry.width, name)
            for name, entry in image.renditions.items()
            if entry.format in BROWSER_FORMATS
        ]
        if shown:
            name = max(shown)[1]
            entry = image.renditions[name]
            preview = (image.url(name), entry.width, entry.height)
            note = f"{note}. Not every browser shows {image.format}: the preview is {name}"
    return RenditionRow(
        name=ORIGINAL,
        width=image.width,
        height=image.height,
        format=image.format,
        bytes=image.bytes,
        key=image.original_key,
        url=url,
        note=note,
        preview_url=preview[0],
        preview_width=preview[1],
        preview_height=preview[2],
    )


def thumbnail(image: Image, *, box: int, css_class: str = "") -> SafeString:
    """A lazy ``<img>`` of the ``thumb`` rendition, with ``thumb_retina`` for dense screens.

    Width descriptors and ``sizes`` let the browser pick: a 2x screen showing a 64 px thumbnail
    takes the 150 px file, one showing it at 150 px takes the 300 px file. ``sizes`` is also
    the width the image is shown at, so it is ``box`` (the CSS box's width) or, for an image
    narrower than that, its own width: a 1x1 upload is shown as one pixel, not as a box-sized
    block, as its renditions never enlarge it either.
    """
    names = [name for name in (THUMB, THUMB_RETINA) if name in image.renditions]
    if not names and image.renditions:  # renditions renamed in settings: the smallest will do
        names = [min(image.renditions, key=lambda name: image.renditions[name].width)]
    if not names:
        return format_html('<span class="images-app-nothumb">{}</span>', "no preview")
    first = image.renditions[names[0]]
    srcset = ", ".join(f"{image.url(name)} {image.renditions[name].width}w" for name in names)
    own = max(image.renditions[name].width for name in names)
    return format_html(
        '<img src="{src}" srcset="{srcset}" sizes="{sizes}" width="{width}" height="{height}" '
        'loading="lazy" decoding="async" alt="{alt}" class="images-app-thumb {css_class}">',
        src=image.url(names[0]),
        srcset=srcset,
        sizes=f"{min(box, own)}px",
        width=first.width,
        height=first.height,
        alt=f"{image.get_type_display()} image {image.pk}",
        css_class=css_class,
    )


# -- The list and the grid ----------------------------------------------------------------------

VIEW_VAR = "view"
GRID = "grid"


@dataclass(frozen=True)
class GridCard:
    pk: int
    url: str
    thumbnail: SafeString
    title: str
    owner: str
    details: str


class ImageChangeList(ChangeList):
    """The admin list with a ``?view=grid`` switch that links keep, but that is not a filter."""

    grid_sorts = [
        ("Newest", "-", "created_at"),
        ("Oldest", "", "created_at"),
        ("Largest", "-", "byte_size"),
        ("Smallest", "", "byte_size"),
    ]

    def get_filters_params(self, params=None):
        lookup_params = super().get_filters_params(params)
        lookup_params.pop(VIEW_VAR, None)
        return lookup_params

    def get_results(self, request) -> None:
        """A page past the last shows the last one, with the view, sort, search and filters.

        Django answers it with a redirect to ``?e=1``, which drops all of them. It happens to a
        bookmarked page of a list that has since shrunk, or to a deleting curator on the last
        page.
        """
        try:
            super().get_results(request)
        except IncorrectLookupParameters:
            paginator = self.model_admin.get_paginator(request, self.queryset, self.list_per_page)
            if self.page_num <= paginator.num_pages:  # not a page past the end: Django's answer
                raise
            self.page_num = paginator.num_pages
            super().get_results(request)

    def get_ordering(self, request, queryset):
        """Only the columns ``sortable_by`` names sort. ``?o=`` with another column's index (the
        owner, the type: no index reads a page of them as a range) is dropped, as its link is
        not shown; with nothing left, the list has its default order."""
        order = self.params.get(ORDER_VAR)
        if order:
            kept = [part for part in order.split(".") if self._sortable(part)]
            if kept:
                self.params[ORDER_VAR] = ".".join(kept)
            else:
                del self.params[ORDER_VAR]
        return super().get_ordering(request, queryset)

    def _sortable(self, part: str) -> bool:
        index = part.rpartition("-")[2]
        return (
            index.isdigit()
            and int(index) < len(self.list_display)
            and self.list_display[int(index)] in self.sortable_by
        )

    def _get_deterministic_ordering(self, ordering):
        """Break ties by id in the sort's own direction (Django always appends ``-pk``).

        ``size ascending, id descending`` cannot be read from a ``(bytes, id)`` index in either
        direction; ``size ascending, id ascending`` is its forward scan, and descending its
        backward one, so one index serves both and a page is a range scan at any table size.
        """
        ordering = super()._get_deterministic_ordering(ordering)
        if len(ordering) >= 2 and ordering[-1] == "-pk" and _ascending(ordering[-2]):
            ordering[-1] = "pk"
        return ordering

    @property
    def is_grid(self) -> bool:
        return self.params.get(VIEW_VAR) == GRID

    @property
    def list_view_url(self) -> str:
        return self.get_query_string(remove=[VIEW_VAR])

    @property
    def grid_view_url(self) -> str:
        return self.get_query_string({VIEW_VAR: GRID})

    @property
    def grid_sort_links(self) -> list[tuple[str, str, bool]]:
        """(label, URL, active) for the grid's sort bar; the list sorts by its column headers."""
        current = self.params.get(ORDER_VAR, "")
        links = []
        for label, sign, column in self.grid_sorts:
            value = f"{sign}{self.list_display.index(column)}"
            links.append((label, self.get_query_string({ORDER_VAR: value}), current == value))
        if not any(active for _, _, active in links) and not current:
            links[0] = (links[0][0], links[0][1], True)  # the model's default: newest first
        return links

    @property
    def grid_cards(self) -> list[GridCard]:
        return [self._card(image) for image in self.result_list]

    def _card(self, image: Image) -> GridCard:
        context = {"preserved_filters": self.preserved_filters, "opts": self.opts}
        return GridCard(
            pk=image.pk,
            url=add_preserved_filters(context, self.url_for_result(image)),
            thumbnail=thumbnail(image, box=150, css_class="images-app-thumb-grid"),
            title=f"#{image.pk} · {image.get_type_display()}",
            owner=str(image.owner),
            details=f"{pixel_size(image.width, image.height)} · {filesizeformat(image.bytes)}",
        )


def _ascending(part) -> bool:
    if isinstance(part, str):
        return not part.startswith("-")
    return not getattr(part, "descending", False)


def _count(images: int) -> str:
    return f"{images} image" if images == 1 else f"{images} images"


# -- The admin ----------------------------------------------------------------------------------

ID_TERM = re.compile(r"#?(-?[0-9]{1,18})")


@admin.register(Image)
class ImageAdmin(admin.ModelAdmin):
    list_display = [
        "list_thumbnail",
        "id",
        "owner",
        "type",
        "pixels",
        "byte_size",
        "created_at",
    ]
    list_display_links = ["list_thumbnail", "id"]
    # Each sort the list offers has an index that reads a page as a range (Image.Meta): sorting
    # by owner or type would sort whole groups of a big shop's or a type's rows.
    sortable_by = ["id", "pixels", "byte_size", "created_at"]
    # A million rows: fixed choices, no sidebar of every owner, no date hierarchy (its MIN/MAX
    # and DISTINCT scan the table), no facet counts, no second COUNT(*) for "N total".
    list_filter = ["type", FormatFilter, ("created", admin.DateFieldListFilter), OwnerFilter]
    list_select_related = ["owner"]
    show_facets = admin.ShowFacets.NEVER
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    search_help_text = (
        "An image id (legacy negative ids too, e.g. -42), or part of an owner's username."
    )
    list_per_page = 60
    raw_id_fields = ["owner"]
    actions = ["rerender_selected", "delete_selected"]

    add_form = ImageUploadForm
    add_fieldsets = [(None, {"fields": ["file", "type", "owner"]})]
    fieldsets = [
        (None, {"fields": ["preview", "owner", "type"]}),
        ("Original", {"fields": ["format", "pixels", "byte_size", "checksum", "created_at"]}),
        ("Storage", {"fields": ["key_prefix", "original_file"]}),
    ]
    # Owner and type are part of every storage key (uploads/<owner>/<type>/...): fixed once stored.
    readonly_fields = [
        "preview",
        "owner",
        "type",
        "format",
        "pixels",
        "byte_size",
        "checksum",
        "created_at",  # as the list shows it
        "key_prefix",
        "original_file",
    ]

    class Media:
        css = {"all": ["images_app/admin.css"]}

    # Columns and read-only fields

    @admin.display(description="Preview")
    def list_thumbnail(self, image: Image) -> SafeString:
        return thumbnail(image, box=64, css_class="images-app-thumb-list")

    @admin.display(description="Pixels", ordering=F("width") * F("height"))
    def pixels(self, image: Image) -> str:
        return pixel_size(image.width, image.height)

    @admin.display(description="Size", ordering="bytes")
    def byte_size(self, image: Image) -> str:
        return filesizeformat(image.bytes)

    @admin.display(description="Created", ordering="created")
    def created_at(self, image: Image) -> str:
        return date_format(localtime(image.created), "j M Y, H:i")

    @admin.display(description="Preview")
    def preview(self, image: Image) -> SafeString:
        return thumbnail(image, box=300, css_class="images-app-thumb-preview")

    @admin.display(description="Original key")
    def original_file(self, image: Image) -> SafeString:
        return format_html(
            '<a href="{}" target="_blank" rel="noopener"><code>{}</code></a>',
            image.url(ORIGINAL),
            image.original_key,
        )

    # Browse

    def get_changelist(self, request: HttpRequest, **kwargs):
        return ImageChangeList

    def get_search_fields(self, request: HttpRequest) -> list[str]:
        return [f"owner__{get_user_model().USERNAME_FIELD}"]  # whatever the user model is

    def get_search_results(self, request: HttpRequest, queryset, search_term: str):
        """An id (``42``, ``#42``, the legacy ``-42``) by primary key; other text, usernames.

        An id that finds an image is only an id: matching it against usernames too (``shop42``)
        would turn a primary-key lookup into scans of both tables. Digits that are no image's id
        are looked for in usernames. Usernames are matched in the user table first, so the image
        table is read through its owner index.
        """
        match = ID_TERM.fullmatch(search_term.strip())
        if match:
            by_id = queryset.filter(pk=abs(int(match[1])))
            if by_id.exists():
                return by_id, False
        if not search_term.strip():
            return queryset, False
        User = get_user_model()
        lookup = {f"{User.USERNAME_FIELD}__icontains": search_term.strip()}
        owners = User._default_manager.filter(**lookup).values("pk")
        return queryset.filter(owner__in=owners), False

    def get_object(self, request: HttpRequest, object_id: str, from_field=None):
        """``/admin/images_app/image/-42/change/`` finds image 42, as the API does."""
        if from_field is None and re.fullmatch(r"-[0-9]{1,18}", str(object_id)):
            object_id = object_id[1:]
        return super().get_object(request, object_id, from_field)

    # Upload and inspect

    def get_fieldsets(self, request: HttpRequest, obj: Image | None = None):
        return self.add_fieldsets if obj is None else super().get_fieldsets(request, obj)

    def get_readonly_fields(self, request: HttpRequest, obj: Image | None = None):
        return [] if obj is None else super().get_readonly_fields(request, obj)

    def get_form(self, request: HttpRequest, obj: Image | None = None, **kwargs):
        if obj is None:
            kwargs["form"] = self.add_form
        return super().get_form(request, obj, **kwargs)

    def get_changeform_initial_data(self, request: HttpRequest) -> dict:
        return {"owner": request.user.pk, **super().get_changeform_initial_data(request)}

    def save_model(self, request: HttpRequest, obj: Image, form, change: bool) -> None:
        if change:  # an upload was stored, row and files, while its form was validated
            super().save_model(request, obj, form, change)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context["show_save_and_continue"] = not add  # an upload opens its image's page anyway
        if obj is not None:  # every field is read-only: a Save would change nothing
            context.update(show_save=False, show_save_and_continue=False)
            context["show_save_and_add_another"] = False
            context["renditions"] = rendition_rows(obj)
            context["can_rerender"] = self.has_change_permission(request, obj)
        return super().render_change_form(request, context, add, change, form_url, obj)

    def response_add(self, request: HttpRequest, obj: Image, post_url_continue=None):
        """After an upload, show the image: its renditions are what the uploader wants to see."""
        if "_addanother" in request.POST or IS_POPUP_VAR in request.POST:
            return super().response_add(request, obj, post_url_continue)
        self.message_user(
            request,
            f"Uploaded “{obj}”: {len(obj.renditions)} renditions stored.",
            messages.SUCCESS,
        )
        return HttpResponseRedirect(self._change_url(request, obj))

    # Look after

    @admin.action(description="Re-render selected images", permissions=["change"])
    def rerender_selected(self, request: HttpRequest, queryset) -> None:
        """Redo each image's renditions that the current settings would make differently."""
        limit = app_settings.RERENDER_ENQUEUE_OVER
        if limit is not None and queryset.count() > limit:
            batches = enqueue_rerender(queryset)
            self.message_user(
                request,
                f"Queued the {_count(queryset.count())} for re-rendering by the workers "
                f"({batches} batches); refresh to see them change.",
                messages.SUCCESS,
            )
            return
        done = current = 0
        for image in queryset.order_by("pk"):
            try:
                changed = rerender(image)
            except (InvalidImage, StorageFailure) as exc:
                self.message_user(
                    request, f"Could not re-render image {image.pk}: {exc}", messages.ERROR
                )
                continue
            if changed:
                done += 1
            else:
                current += 1
        if done:
            self.message_user(request, f"Re-rendered {_count(done)}.", messages.SUCCESS)
        if current:
            self.message_user(
                request,
                f"{_count(current)} already up to date with the rendition settings.",
                messages.INFO,
            )

    def get_urls(self):
        view = self.admin_site.admin_view(require_POST(self.rerender_view))
        info = self.opts.app_label, self.opts.model_name
        return [
            path("<path:object_id>/rerender/", view, name="{}_{}_rerender".format(*info)),
            *super().get_urls(),
        ]

    def rerender_view(self, request: HttpRequest, object_id: str):
        """POST from the change page's "Re-render" button."""
        image = self.get_object(request, object_id)
        if image is None:
            raise Http404("No such image.")
        if not self.has_change_permission(request, image):
            raise PermissionDenied
        self.rerender_selected(request, Image.objects.filter(pk=image.pk))
        return HttpResponseRedirect(self._change_url(request, image))

    def _change_url(self, request: HttpRequest, image: Image) -> str:
        url = reverse(
            f"admin:{self.opts.app_label}_{self.opts.model_name}_change",
            args=[quote(image.pk)],
            current_app=self.admin_site.name,
        )
        context = {"preserved_filters": self.get_preserved_filters(request), "opts": self.opts}
        return add_preserved_filters(context, url)
