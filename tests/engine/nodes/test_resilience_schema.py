"""`schema_validator`: JSON Schema validation with the jsonschema library; bad schemas are
refused at load with the path of the bad part."""

from __future__ import annotations

import socket

import pytest

from engine.errors import NodeError

PERSON = {
    "type": "object",
    "required": ["name", "age"],
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "age": {"type": "integer", "minimum": 0},
        "tags": {"type": "array", "items": {"type": "string"}},
    },
}


def test_valid_input_is_passed_on(run_node):
    data = {"name": "Ada", "age": 36}
    assert run_node("schema_validator", {"schema": PERSON}, data) == {"valid": True,
                                                                       "data": data}


def test_invalid_input_lists_every_problem_with_its_path(run_node):
    data = {"name": "", "age": -1, "tags": ["ok", 3]}
    result = run_node("schema_validator", {"schema": PERSON}, data)
    assert result["valid"] is False
    assert result["data"] == data
    assert result["error_count"] == 3
    assert [(e["field"], e["type"]) for e in result["errors"]] == [
        ("$.age", "minimum"), ("$.name", "minLength"), ("$.tags[1]", "type")]
    assert result["errors"][2]["value"] == 3
    assert "is not of type 'string'" in result["errors"][2]["description"]


def test_missing_required_field_is_reported_at_the_root(run_node):
    result = run_node("schema_validator", {"schema": PERSON}, {"name": "x"})
    assert result["errors"] == [{"field": "$", "type": "required",
                                 "description": "'age' is a required property",
                                 "value": {"name": "x"}}]


def test_strict_mode_fails_the_node_naming_the_first_problem(run_node):
    with pytest.raises(NodeError, match=r"validation failed: 1 error\(s\); \$.age: -1 is less"):
        run_node("schema_validator", {"schema": PERSON, "strict": True},
                 {"name": "x", "age": -1})


def test_formats_are_checked(run_node):
    schema = {"type": "string", "format": "date"}
    assert run_node("schema_validator", {"schema": schema}, "2024-02-30")["valid"] is False
    assert run_node("schema_validator", {"schema": schema}, "2024-02-28")["valid"] is True


def test_the_schema_draft_follows_dollar_schema(run_node):
    draft4 = {"$schema": "http://json-schema.org/draft-04/schema#",
              "type": "number", "maximum": 5, "exclusiveMaximum": True}
    assert run_node("schema_validator", {"schema": draft4}, 5)["valid"] is False


def test_local_refs_resolve(run_node):
    schema = {"$defs": {"id": {"type": "integer"}},
              "type": "array", "items": {"$ref": "#/$defs/id"}}
    assert run_node("schema_validator", {"schema": schema}, [1, "2"])["errors"][0]["field"] \
        == "$[1]"


def test_remote_refs_are_never_fetched(run_node, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("schema_validator tried to open a connection")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    schema = {"$ref": "http://schemas.example.com/person.json"}
    with pytest.raises(NodeError, match="cannot be resolved: http://schemas.example.com/"):
        run_node("schema_validator", {"schema": schema}, {})


def test_no_input_is_an_error(run_node):
    with pytest.raises(NodeError, match="needs an input"):
        run_node("schema_validator", {"schema": PERSON})


def test_a_bad_schema_is_refused_at_load_with_its_path(load_problems):
    schema = {"type": "object", "properties": {"age": {"type": "integr"}}}
    [problem] = load_problems("schema_validator", {"schema": schema})
    assert problem["path"] == "$.nodes[0].data.schema.properties.age.type"
    assert problem["message"].startswith("invalid schema: 'integr' is not valid")


def test_schema_must_be_an_object_and_its_draft_known(load_problems):
    assert load_problems("schema_validator", {"schema": "string"}) == [
        {"path": "$.nodes[0].data.schema",
         "message": "must be a JSON Schema object (or true/false)"}]
    assert load_problems("schema_validator", {"schema": {"$schema": "http://x/draft-99"}}) == [
        {"path": "$.nodes[0].data.schema.$schema",
         "message": "unknown JSON Schema draft 'http://x/draft-99'"}]
    assert load_problems("schema_validator", {}) == [
        {"path": "$.nodes[0].data.schema", "message": "required (any)"}]


def test_every_problem_of_a_bad_schema_is_reported(load_problems):
    schema = {"type": "object", "properties": {"a": {"minimum": "x"}}, "items": [{"type": 5}]}
    assert load_problems("schema_validator", {"schema": schema}) == [
        {"path": "$.nodes[0].data.schema.items",
         "message": "invalid schema: [{'type': 5}] is not of type 'object', 'boolean'"},
        {"path": "$.nodes[0].data.schema.properties.a.minimum",
         "message": "invalid schema: 'x' is not of type 'number'"},
    ]


def test_a_dollar_schema_that_is_not_a_string_is_refused(load_problems):
    assert load_problems("schema_validator", {"schema": {"$schema": []}}) == [
        {"path": "$.nodes[0].data.schema.$schema", "message": "unknown JSON Schema draft []"}]
