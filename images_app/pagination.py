"""Paging through a million images: the API's list and the admin's list.

Three costs grow with the table, and each has its answer here:

- **OFFSET walking.** ``OFFSET 49950 LIMIT 50`` makes the database fetch and throw away 49,950
  rows. ``LateRowPaginator`` pages deep lists in two steps: the page's ids first (an index-only
  scan of ``(owner, created, id)`` or ``(created, id)``: no table rows touched), then those 50
  rows by primary key.
- **Walking everything.** A client that reads every page pays the offset again on each one.
  ``?cursor=`` opts into keyset pagination (``CursorPagination``): each page starts where the
  last ended, ``WHERE (created, id) < (last one's)``, so every page costs what the first does.
  Page numbers stay the default: legacy clients keep ``count``, ``next``, ``previous``, ``results``.
- **Counting.** The API counts one owner's images (an index-only count, kept exact: clients show
  it). The admin counts the whole table, so ``EstimatedCountPaginator`` counts exactly only up to
  ``EXACT_COUNT_LIMIT`` rows and estimates above that (PostgreSQL's own statistics).
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime

from django.core.paginator import Page, Paginator
from django.db import connections
from django.db.models import Q, QuerySet
from django.utils.functional import cached_property
from rest_framework.exceptions import NotFound
from rest_framework.pagination import BasePagination, PageNumberPagination
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

# Below this offset one query is cheaper than two; above it the ids-first query wins.
LATE_ROW_OFFSET = 500
# The admin counts exactly up to here, and estimates above (on PostgreSQL).
EXACT_COUNT_LIMIT = 10_000


class LateRowPaginator(Paginator):
    """Deep pages as ids first (index-only), then the page's rows by primary key."""

    def page(self, number) -> Page:
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        top = bottom + self.per_page
        if top + self.orphans >= self.count:
            top = self.count
        return self._get_page(self.slice(bottom, top), number, self)

    def slice(self, bottom: int, top: int):
        queryset = self.object_list
        if bottom < LATE_ROW_OFFSET or not isinstance(queryset, QuerySet):
            return queryset[bottom:top]
        ids = list(queryset.values_list("pk", flat=True)[bottom:top])
        return list(queryset.filter(pk__in=ids))  # same ordering, a handful of rows to sort


class EstimatedCountPaginator(LateRowPaginator):
    """Exact counts up to ``EXACT_COUNT_LIMIT``; above it, the database's estimate.

    ``estimated`` says which the page shows. The unfiltered list reads the table's row count
    from PostgreSQL's statistics (``pg_class.reltuples``, kept by autovacuum); a filtered list
    over the limit takes the planner's row estimate for its query. Other databases (SQLite,
    the embedded default) count exactly.
    """

    estimated = False

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if not isinstance(queryset, QuerySet):
            return len(queryset)
        bounded = queryset.order_by()[: EXACT_COUNT_LIMIT + 1].count()
        if bounded <= EXACT_COUNT_LIMIT:
            return bounded
        estimate = estimated_count(queryset)
        if estimate is None:
            return queryset.count()
        self.estimated = True
        return max(estimate, bounded)


def estimated_count(queryset: QuerySet) -> int | None:
    """PostgreSQL's estimate of the rows ``queryset`` matches; None where there is none."""
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return None
    if not queryset.query.where:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                [queryset.model._meta.db_table],
            )
            row = cursor.fetchone()
        if row and row[0] >= 0:  # -1: never analysed
            return int(row[0])
    plan = json.loads(queryset.order_by().explain(format="json"))
    return int(plan[0]["Plan"]["Plan Rows"])


# -- The API -------------------------------------------------------------------------------------

CURSOR_PARAM = "cursor"


class ImagePagination(PageNumberPagination):
    """``?page=`` (default, with ``count``); ``?cursor=`` for clients that walk everything."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
    django_paginator_class = LateRowPaginator

    def paginate_queryset(self, queryset, request, view=None):
        if CURSOR_PARAM in request.query_params:
            self.cursor = CursorPagination(self.get_page_size(request))
            return self.cursor.paginate_queryset(queryset, request, view)
        self.cursor = None
        return super().paginate_queryset(queryset, request, view)

    def get_paginated_response(self, data) -> Response:
        if self.cursor is not None:
            return self.cursor.get_paginated_response(data)
        return super().get_paginated_response(data)

    def get_paginated_response_schema(self, schema: dict) -> dict:
        response = super().get_paginated_response_schema(schema)
        response["required"] = ["next", "previous", "results"]
        response["properties"]["count"]["description"] = "Absent with `?cursor=`."
        return response

    def get_schema_operation_parameters(self, view) -> list[dict]:
        return [
            *super().get_schema_operation_parameters(view),
            {
                "name": CURSOR_PARAM,
                "required": False,
                "in": "query",
                "description": "Keyset paging for clients that read every page: send it empty "
                "to start, then follow `next`. Every page costs the same; no `count`.",
                "schema": {"type": "string"},
            },
        ]


class CursorPagination(BasePagination):
    """Keyset paging on ``(created, id)``, newest first; the cursor is opaque to clients.

    A cursor holds the (created, id) of the row it continues from and the direction. The
    redundant ``created <= c`` bound lets the database start its index scan there instead of
    filtering from the top: ``(created < c) OR (created = c AND id < i)`` alone would not.
    """

    def __init__(self, page_size: int):
        self.page_size = page_size

    def paginate_queryset(self, queryset, request, view=None) -> list:
        self.request = request
        token = request.query_params.get(CURSOR_PARAM, "")
        position = decode_cursor(token) if token else None
        self.backwards = bool(position and position[2])
        page = list(after(queryset, position)[: self.page_size + 1])
        more = len(page) > self.page_size
        page = page[: self.page_size]
        if self.backwards:
            page.reverse()
        self.page = page
        self.has_next = more if not self.backwards else True
        self.has_previous = (position is not None) if not self.backwards else more
        return page

    def get_paginated_response(self, data) -> Response:
        return Response({"next": self.link(False), "previous": self.link(True), "results": data})

    def link(self, backwards: bool) -> str | None:
        if not self.page or not (self.has_previous if backwards else self.has_next):
            return None
        edge = self.page[0] if backwards else self.page[-1]
        url = self.request.build_absolute_uri()
        url = remove_query_param(url, "page")
        return replace_query_param(url, CURSOR_PARAM, encode_cursor(edge, backwards))


def after(queryset: QuerySet, position: tuple[datetime, int, bool] | None) -> QuerySet:
    """The rows past ``position`` in its direction, nearest first."""
    if position is None:
        return queryset.order_by("-created", "-id")
    created, pk, backwards = position
    if backwards:
        beyond = Q(created__gt=created) | Q(created=created, id__gt=pk)
        return queryset.filter(beyond, created__gte=created).order_by("created", "id")
    beyond = Q(created__lt=created) | Q(created=created, id__lt=pk)
    return queryset.filter(beyond, created__lte=created).order_by("-created", "-id")


def encode_cursor(image, backwards: bool) -> str:
    raw = json.dumps([image.created.isoformat(), image.pk, int(backwards)], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(token: str) -> tuple[datetime, int, bool]:
    try:
        padded = token + "=" * (-len(token) % 4)
        created, pk, backwards = json.loads(base64.urlsafe_b64decode(padded.encode()))
        created, pk = datetime.fromisoformat(created), int(pk)
        if created.tzinfo is None or not 0 < pk < 2**63:
            raise ValueError("not a position this API gives out")
        return created, pk, bool(backwards)
    except (ValueError, TypeError, binascii.Error, UnicodeError) as exc:
        raise NotFound(
            "This cursor is not one this API gave out. Start again with an empty ?cursor= "
            "and follow the `next` links."
        ) from exc
