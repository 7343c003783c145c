"""NUL characters: PostgreSQL cannot store them in text or jsonb. Stored definitions that
hold one are refused with their paths; run data holding one is recorded with U+FFFD."""

from __future__ import annotations

import json

import pytest

from tests.api.conftest import token_client
from workflows.recording import _json_for_postgres, without_nul

pytestmark = pytest.mark.django_db


def test_saving_a_definition_with_nul_is_400_naming_the_path(admin_user):
    definition = {"nodes": [{"id": "a", "type": "text_input", "data": {"text": "x\x00y"}}]}
    response = token_client(admin_user).post("/api/v1/workflows/", {
        "name": "nul", "definition": definition}, format="json")
    assert response.status_code == 400
    details = response.json()["details"]
    assert [d["path"] for d in details] == ["$.definition.nodes[0].data.text"]
    assert "NUL" in details[0]["message"]


@pytest.mark.parametrize(("value", "stored"), [
    ("a\x00b", "a\ufffdb"),
    ("the text \\u0000 stays", "the text \\u0000 stays"),
    ({"k\x00": ["\\\x00"]}, {"k\ufffd": ["\\\ufffd"]}),
])
def test_json_for_postgres_replaces_nul_and_nothing_else(value, stored):
    assert json.loads(_json_for_postgres(value)) == stored
    assert without_nul(value) == stored
