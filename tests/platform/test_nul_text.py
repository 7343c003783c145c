"""NUL characters: PostgreSQL cannot store them in text or jsonb. Stored definitions that
hold one are refused with their paths; run data holding one is recorded with U+FFFD."""

from __future__ import annotations

import json

import pytest
from django.db import connection

from tests.api.conftest import token_client
from workflows.models import NodeRun, Run
from workflows.recording import _json_for_postgres, json_safe, storable

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
    assert storable(value) == stored


@pytest.mark.parametrize(("value", "fixed"), [
    ("lone \ud800 high", "lone \ufffd high"),
    ({"k\udc00": "pair \U0001F600 kept"}, {"k\ufffd": "pair \U0001F600 kept"}),
])
def test_lone_surrogates_become_replacement_characters_pairs_stay(value, fixed):
    assert storable(value) == fixed
    assert json_safe(value) == fixed
    assert json.loads(_json_for_postgres(value)) == fixed


def test_run_data_with_nul_and_lone_surrogates_is_answered_and_recorded(admin_user):
    # `parse` turns escapes in its text into the very characters PostgreSQL refuses.
    payload = {"nodes": [
        {"id": "t", "type": "text_input", "data": {"text": '{"a": "\\ud800 and \\u0000"}'}},
        {"id": "p", "type": "parse", "data": {"input_type": "JSON"}}],
        "edges": [{"source": "t", "target": "p"}]}
    response = token_client(admin_user).post("/api/v1/workflow/execute", payload,
                                             format="json")
    assert response.status_code == 200
    assert response.json()["results"]["final_output"] == {"a": "\ufffd and \x00"}
    run = Run.objects.get(pk=response.json()["run_id"])
    assert run.status == "succeeded"
    recorded = NodeRun.objects.get(run=run, node_id="p").output["a"]
    # SQLite keeps the exact text; PostgreSQL cannot, and gets replacement characters.
    assert recorded == ("\ufffd and \ufffd" if connection.vendor == "postgresql"
                        else "\ud800 and \x00")


def test_a_body_with_a_lone_surrogate_is_400_naming_the_path(admin_user):
    response = token_client(admin_user).post(
        "/api/v1/workflow/execute",
        data='{"nodes": [{"id": "a", "type": "text_input", "data": {"text": "\\ud800"}}]}',
        content_type="application/json")
    assert response.status_code == 400
    assert "$.nodes[0].data.text: lone UTF-16 surrogate" in response.content.decode()
