"""GET /api/v1/node-types: the engine's own field declarations, for the editor's forms."""

from __future__ import annotations

import pytest

from engine.nodes.base import NODE_TYPES

pytestmark = pytest.mark.django_db
URL = "/api/v1/node-types"


def _types(api) -> dict:
    response = api.get(URL)
    assert response.status_code == 200
    return {t["type"]: t for t in response.json()["node_types"]}


def test_every_registered_node_type_is_published(api):
    assert set(_types(api)) == set(NODE_TYPES)


def test_fields_carry_kind_default_choices_and_aliases(api):
    types = _types(api)

    http = {f["name"]: f for f in types["http"]["fields"]}
    assert http["method"]["kind"] == "string"
    assert http["method"]["default"] == "get"
    assert "post" in http["method"]["choices"]
    cache = {f["name"]: f for f in types["cache"]["fields"]}
    assert cache["cache_op"] == {"name": "cache_op", "kind": "string", "required": True,
                                 "default": None, "choices": ["get", "set", "delete"],
                                 "aliases": ["operation"]}
    assert {f["name"] for f in types["operation"]["fields"]} == {"op"}
    assert types["operation"]["fields"][0]["choices"] == [
        "add", "subtract", "multiply", "divide", "modulo", "power"]


def test_palette_groups_follow_thaiyyals_editor(api):
    body = api.get(URL).json()
    assert body["groups"][:3] == ["Input/Output", "Operations", "Control Flow"]
    types = {t["type"]: t for t in body["node_types"]}
    assert types["number"]["group"] == "Input/Output"
    assert types["operation"]["label"] == "Math Op"
    assert types["map"]["group"] == "Array Operations"
    assert all(t["group"] in body["groups"] for t in body["node_types"])


def test_handles_name_branches(api):
    types = _types(api)
    assert types["condition"]["handles"] == {"fixed": ["true", "false"], "from_data": None}
    assert types["switch"]["handles"]["from_data"] == "cases[].output_path"
    assert types["number"]["handles"]["fixed"] == []


def test_unauthenticated_is_401(anon):
    assert anon.get(URL).status_code == 401


def test_thaiyyal_editor_names_are_published(api):
    types = _types(api)
    assert types["operation"]["editor_names"] == ["opNode"]
    assert types["number"]["editor_names"] == ["numberNode"]
