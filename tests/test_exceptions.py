"""The error catalogue: one list of status, key and message that everything else reads."""

import re
from pathlib import Path

import pytest
from rest_framework import exceptions as drf

from images_app import exceptions
from images_app.exceptions import CATALOGUE, entry_for, for_status, markdown_table

ROOT = Path(__file__).resolve().parent.parent

# Every error key and status the API answers (the README's Errors table, docs/api.md), written
# out here: a key added, dropped or moved to another status is a contract change, made here too.
CONTRACT = {
    ("common.serializer_error", 400),
    ("common.parse_error", 400),
    ("common.not_authenticated", 401),
    ("common.permission_denied", 403),
    ("common.not_found", 404),
    ("common.method_not_allowed", 405),
    ("common.invalid_version", 406),
    ("common.not_acceptable", 406),
    ("common.idempotency_conflict", 409),
    ("common.length_required", 411),
    ("common.idempotency_mismatch", 422),
    ("common.request_too_large", 413),
    ("common.unsupported_media_type", 415),
    ("common.throttled", 429),
    ("common.storage_unavailable", 503),
    ("common.service_unavailable", 503),
    ("common.server_error", 500),
}


def test_the_catalogue_is_the_contracts_error_table():
    assert {(entry.key(), entry.status_code) for entry in CATALOGUE} == CONTRACT
    assert len({entry.key() for entry in CATALOGUE}) == len(CATALOGUE)


@pytest.mark.parametrize("entry", CATALOGUE, ids=lambda entry: entry.key())
def test_every_entry_says_what_happened_and_when(entry):
    assert re.fullmatch(r"common\.[a-z_]+", entry.key())
    assert str(entry.default_detail).strip()
    assert entry.when.strip()
    assert entry().status_code == entry.status_code


def readme_error_table() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Errors\n", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    return "\n".join(lines)


def test_the_readme_error_table_is_the_catalogue():
    assert readme_error_table() == markdown_table(), (
        "README.md's Errors table disagrees with images_app/exceptions.py; paste this:\n\n"
        + markdown_table()
    )


@pytest.mark.parametrize(
    ("raised", "key"),
    [
        (drf.ValidationError({"image": ["x"]}), "common.serializer_error"),
        (drf.ParseError(), "common.parse_error"),
        (drf.NotAuthenticated(), "common.not_authenticated"),
        (drf.AuthenticationFailed(), "common.not_authenticated"),
        (drf.PermissionDenied(), "common.permission_denied"),
        (drf.NotFound(), "common.not_found"),
        (drf.MethodNotAllowed("PUT"), "common.method_not_allowed"),
        (drf.NotAcceptable(), "common.not_acceptable"),
        (exceptions.InvalidVersion(), "common.invalid_version"),
        (drf.UnsupportedMediaType("text/plain"), "common.unsupported_media_type"),
        (drf.Throttled(3), "common.throttled"),
        (drf.APIException(), "common.server_error"),
        (exceptions.StorageUnavailable(), "common.storage_unavailable"),
    ],
)
def test_drfs_own_exceptions_answer_as_their_entry(raised, key):
    assert entry_for(raised).key() == key


def test_a_bare_status_gets_the_first_entry_of_that_status():
    assert for_status(400).key() == "common.parse_error"
    assert for_status(406).key() == "common.not_acceptable"
    assert for_status(503).key() == "common.service_unavailable"
    assert for_status(418).key() == "common.server_error"


def test_the_envelope_of_an_entry():
    assert exceptions.NotFound.envelope() == {
        "error": {"fields": {}, "description": "Not found.", "key": "common.not_found"}
    }
    body = exceptions.SerializerError.envelope(fields={"image": ["This field is required."]})
    assert body["error"]["description"] == "Serialization error"
