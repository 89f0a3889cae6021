"""The admin list at a million rows: what SQL its pages run, asserted on the queries themselves.

Timings belong to ``make scalebench``; here we count the work a page asks of the database, which
does not depend on the machine: no COUNT over the whole table, no DISTINCT, no MIN/MAX of the
date hierarchy, an id search by primary key only, filters answered without listing owners.
"""

import re
import uuid
from html import unescape

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from images_app import pagination
from images_app.models import Image, ImageType

from .hostile import heif
from .test_admin import CHANGELIST, change_url, image_tags

pytestmark = [pytest.mark.django_db]
TABLE = Image._meta.db_table


@pytest.fixture
def rows(admin_user, user, other_user):
    """Rows straight into the table (no files): the list only reads rows."""

    def make(count: int, owner=None, **fields) -> list[Image]:
        made = [
            Image(
                owner=owner or user,
                type=fields.get("type", ImageType.PRODUCT),
                key_prefix=f"uploads/x/{uuid.uuid4().hex}",
                original_key=f"uploads/x/{n}/original.jpg",
                format=fields.get("format", "JPEG"),
                width=40 + n,
                height=30,
                bytes=1000 + n,
                checksum="0" * 64,
                renditions={},
            )
            for n in range(count)
        ]
        return Image.objects.bulk_create(made)

    return make


def image_queries(captured) -> list[str]:
    return [q["sql"] for q in captured.captured_queries if TABLE in q["sql"]]


def page_sql(client, **query) -> tuple[object, list[str]]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(CHANGELIST, query)
    assert response.status_code == 200, query
    return response, image_queries(captured)


def test_the_unfiltered_list_never_counts_or_scans_the_whole_table(admin_client, rows):
    rows(3)

    response, sqls = page_sql(admin_client)

    assert len(response.context["cl"].result_list) == 3
    for sql in sqls:
        assert "DISTINCT" not in sql.upper(), sql
        assert not re.search(r"\b(MIN|MAX)\(", sql.upper()), sql  # the date hierarchy's
    counts = [sql for sql in sqls if "COUNT(" in sql.upper()]
    assert len(counts) == 1, counts  # no second "N total" count
    assert "LIMIT" in counts[0].upper()  # bounded: it stops at EXACT_COUNT_LIMIT + 1 rows


def test_no_filter_lists_owners_or_distinct_values(admin_client, rows, user, other_user):
    rows(2, owner=user)
    rows(1, owner=other_user, format="PNG")

    response, sqls = page_sql(admin_client)

    html = response.content.decode()
    assert f"owner__id__exact={user.pk}" not in html  # no link per owner
    assert 'name="owner"' in html  # a box to type an id or a username
    assert not any("auth_user" in sql and "DISTINCT" in sql.upper() for sql in sqls)
    formats = re.findall(r'href="\?format=(\w+)"', html)
    assert formats == ["JPEG", "PNG", "GIF", "WEBP", "AVIF", "HEIF"]  # fixed, from FORMATS


@pytest.mark.parametrize("term", ["{pk}", "-{pk}", "#{pk}"])
def test_id_search_is_a_primary_key_lookup_and_ignores_usernames(
    admin_client, rows, django_user_model, term
):
    wanted, *_ = rows(3)
    digits = django_user_model.objects.create_user(username=f"shop{wanted.pk}")
    rows(2, owner=digits)  # their username contains the id: an id search must not find them

    response, sqls = page_sql(admin_client, q=term.format(pk=wanted.pk))

    assert list(response.context["cl"].result_list) == [wanted]
    [exists, select] = [sql for sql in sqls if "COUNT(" not in sql.upper()]
    assert re.search(rf'"{TABLE}"\."id" = {wanted.pk}\b', exists), exists
    assert re.search(rf'"{TABLE}"\."id" = {wanted.pk}\b', select), select
    assert "auth_user" not in select.split("WHERE")[1]  # no username condition


def test_digits_that_are_no_image_id_search_usernames(admin_client, rows, django_user_model):
    shop = django_user_model.objects.create_user(username="shop987654")
    theirs = rows(2, owner=shop)

    response, _ = page_sql(admin_client, q="987654")

    assert set(response.context["cl"].result_list) == set(theirs)


def test_username_search_reads_users_first(admin_client, rows, user, other_user):
    mine = rows(2, owner=user)
    rows(2, owner=other_user)

    response, sqls = page_sql(admin_client, q=user.username[2:].upper())

    assert set(response.context["cl"].result_list) == set(mine)
    assert any('"owner_id" IN (SELECT' in sql for sql in sqls)


@pytest.mark.parametrize("param", ["owner", "owner__id__exact"])
def test_owner_filter_by_id(admin_client, rows, user, other_user, param):
    mine = rows(2, owner=user)
    rows(1, owner=other_user)

    response, _ = page_sql(admin_client, **{param: str(user.pk)})

    assert set(response.context["cl"].result_list) == set(mine)
    html = unescape(response.content.decode())
    assert f"{user.username} (#{user.pk})" in html


def test_owner_filter_by_username_keeps_other_filters(admin_client, rows, user, other_user):
    rows(1, owner=user)
    wanted = rows(1, owner=user, type=ImageType.USER)
    rows(1, owner=other_user, type=ImageType.USER)

    response, _ = page_sql(admin_client, owner=user.username, type__exact=ImageType.USER)

    assert list(response.context["cl"].result_list) == wanted
    html = response.content.decode()
    assert f'<input type="hidden" name="type__exact" value="{ImageType.USER}">' in html


def test_owner_filter_for_nobody_lists_nothing_and_says_so(admin_client, rows):
    rows(2)

    response, _ = page_sql(admin_client, owner="no-such-user")

    assert list(response.context["cl"].result_list) == []
    assert "No user “no-such-user”" in response.content.decode()


def test_format_and_date_filters(admin_client, rows):
    jpegs, pngs = rows(2), rows(1, format="PNG")

    assert list(page_sql(admin_client, format="PNG")[0].context["cl"].result_list) == pngs
    html = unescape(page_sql(admin_client)[0].content.decode())
    [today] = re.findall(r'href="\?([^"]*created__gte[^"]*)">Today<', html)  # fixed ranges
    listed = admin_client.get(f"{CHANGELIST}?{today}").context["cl"].result_list
    assert set(listed) == {*jpegs, *pngs}


def test_counts_stop_at_the_limit_and_pages_say_about(admin_client, rows, monkeypatch):
    monkeypatch.setattr(pagination, "EXACT_COUNT_LIMIT", 4)
    rows(7)

    response, sqls = page_sql(admin_client)

    cl = response.context["cl"]
    if connection.vendor == "postgresql":  # an estimate from the planner, "about N"
        assert cl.paginator.estimated and "about " in response.content.decode()
    else:  # SQLite has no estimate: an exact count
        assert cl.result_count == 7 and not cl.paginator.estimated
    assert any("LIMIT 5" in sql for sql in sqls)  # the bounded count ran first


def test_deep_admin_pages_fetch_ids_first(admin_client, rows, monkeypatch, settings):
    monkeypatch.setattr(pagination, "LATE_ROW_OFFSET", 2)
    made = sorted(rows(7), key=lambda image: (image.created, image.pk), reverse=True)
    admin_page = type(admin_client.get(CHANGELIST).context["cl"].model_admin)
    monkeypatch.setattr(admin_page, "list_per_page", 3)

    response, sqls = page_sql(admin_client, p="2")

    assert list(response.context["cl"].result_list) == made[3:6]
    [ids] = [sql for sql in sqls if re.match(rf'SELECT "{TABLE}"\."id"( AS "\w+")? FROM', sql)]
    assert "OFFSET 3" in ids  # the offset walks ids only (an index-only scan)
    assert re.search(rf'"{TABLE}"\."id" IN \(', sqls[-1])  # then the page's rows by pk


@pytest.mark.usefixtures("backend")
@pytest.mark.parametrize("backend", ["filesystem"], indirect=True)
def test_change_page_previews_a_heic_original_with_a_rendition(admin_client, admin_user):
    image = Image.objects.create_from_upload(
        owner=admin_user, type=ImageType.PRODUCT, data=heif.heic()
    )
    assert image.format == "HEIF"

    html = unescape(admin_client.get(change_url(image)).content.decode())

    [tile] = [tag for tag in image_tags(html) if tag.get("alt") == "original rendition"]
    shown = [name for name in image.renditions if image.url(name) == tile["src"]]
    widest = max(entry.width for entry in image.renditions.values())
    assert [image.renditions[name].width for name in shown] == [widest]  # the largest
    assert image.renditions[shown[0]].format == "JPEG"  # not image/heic
    assert "Not every browser shows HEIF" in html
    assert image.url("original") in html  # still one click away


@pytest.mark.parametrize("column", ["byte_size", "pixels", "created_at"])
def test_sorts_break_ties_by_id_in_their_own_direction(admin_client, rows, column):
    rows(3)
    index = admin_client.get(CHANGELIST).context["cl"].list_display.index(column)

    for sign, direction in (("", "ASC"), ("-", "DESC")):
        _, sqls = page_sql(admin_client, o=f"{sign}{index}")
        [select] = [sql for sql in sqls if "ORDER BY" in sql]
        order = select.split("ORDER BY")[1]
        # one (column, id) index, read forwards or backwards, serves the page
        assert order.strip().endswith(f'"{TABLE}"."id" {direction}'), order
        assert order.count(f" {direction}") == 2, order


def test_owner_and_type_columns_offer_no_sort(admin_client, rows):
    rows(1)

    cl = admin_client.get(CHANGELIST).context["cl"]

    assert set(cl.model_admin.sortable_by) == {"id", "pixels", "byte_size", "created_at"}
    html = admin_client.get(CHANGELIST).content.decode()
    owner_index = cl.list_display.index("owner")
    assert f"?o={owner_index}" not in html
