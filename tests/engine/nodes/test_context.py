"""Context nodes: typed values converted at load, `context.<name>` in expressions, overrides."""

from __future__ import annotations

import pytest

import engine
from engine.nodes.context import convert_typed_value


def values(*entries):
    return {"context_values": [dict(zip(("name", "value", "type"), e, strict=True))
                               for e in entries]}


# -- conversion -------------------------------------------------------------------------------
@pytest.mark.parametrize(("value", "value_type", "expected"), [
    ("abc", "string", "abc"),
    (42, "string", "42"),
    (2.0, "string", "2"),
    (1.5, "string", "1.5"),
    (True, "string", "true"),
    (None, "string", ""),
    ([1, "a"], "string", '[1,"a"]'),
    (3, "number", 3),
    (2.5, "number", 2.5),
    ("42", "number", 42),
    ("-1.5e3", "number", -1500.0),
    (True, "boolean", True),
    ("TRUE", "boolean", True),
    ("f", "boolean", False),
    ("0", "boolean", False),
    (2, "boolean", True),
    (0, "boolean", False),
    ("2024-01-31T09:30:00Z", "time_string", "2024-01-31T09:30:00Z"),
    ("2024-01-31T09:30:00.123+05:30", "time_string", "2024-01-31T09:30:00.123+05:30"),
    (1700000000, "epoch_second", "2023-11-14T22:13:20Z"),
    ("1700000000", "epoch_second", "2023-11-14T22:13:20Z"),
    (1700000000.9, "epoch_second", "2023-11-14T22:13:20Z"),
    (1700000000500, "epoch_ms", "2023-11-14T22:13:20.5Z"),
    (-1, "epoch_ms", "1969-12-31T23:59:59.999Z"),
    (0, "epoch_second", "1970-01-01T00:00:00Z"),
    ("anything", "null", None),
])
def test_convert_typed_value(value, value_type, expected):
    assert convert_typed_value(value, value_type) == expected


@pytest.mark.parametrize(("value", "value_type", "message"), [
    ("abc", "number", 'cannot convert "abc" to number'),
    (True, "number", "cannot convert boolean to number"),
    (None, "number", "cannot convert null to number"),
    ("yes", "boolean", 'cannot convert "yes" to boolean'),
    ([], "boolean", "cannot convert array to boolean"),
    ("2024-01-31", "time_string", 'invalid time string "2024-01-31"'),
    ("2024-02-30T00:00:00Z", "time_string", 'invalid time string "2024-02-30T00:00:00Z"'),
    ("2024-01-31T09:30:00+25:00", "time_string", "invalid time string"),
    ("1.5", "epoch_second", 'cannot convert "1.5" to epoch seconds'),
    (10**20, "epoch_second", "epoch value out of range"),
    ({}, "epoch_ms", "cannot convert object to epoch milliseconds"),
    (1, "date", 'unsupported type "date"'),
])
def test_convert_typed_value_explains_what_is_wrong(value, value_type, message):
    with pytest.raises(ValueError, match=message):
        convert_typed_value(value, value_type)


# -- context_variable / context_constant -------------------------------------------------------
def test_context_variable_result_holds_converted_values(run_node):
    data = values(("limit", "10", "number"), ("name", "api", "string"), ("on", "1", "boolean"),
                  ("since", 0, "epoch_second"), ("nothing", "x", "null"))
    assert run_node("context_variable", data) == {
        "type": "variable",
        "variables": {"limit": 10, "name": "api", "on": True,
                      "since": "1970-01-01T00:00:00Z", "nothing": None}}


def test_context_constant_result_holds_its_constants(run_node):
    assert run_node("context_constant", values(("pi", 3.14, "number"))) == {
        "type": "const", "constants": {"pi": 3.14}}


def test_context_entry_without_a_type_keeps_its_value(run_node):
    data = {"context_values": [{"name": "cfg", "value": {"a": [1]}}]}
    assert run_node("context_constant", data)["constants"] == {"cfg": {"a": [1]}}


@pytest.mark.parametrize("node_type", ["context_variable", "context_constant"])
def test_context_legacy_single_value(run_node, node_type):
    kind = "variable" if node_type == "context_variable" else "const"
    assert run_node(node_type, {"context_name": "region", "context_value": "eu"}) == {
        "type": kind, "name": "region", "value": "eu"}


def test_context_nodes_declare_their_values(load_node):
    node = load_node("context_variable", values(("a", "1", "number"), ("b", True, "boolean")))
    assert node.is_context is True
    assert node.context_values() == {"a": 1, "b": True}
    assert node.value_types() == {"a": "number", "b": "boolean"}


@pytest.mark.parametrize(("node_type", "data", "path", "message"), [
    ("context_variable", {}, "context_values",
     "context_variable node missing context_name or context_values"),
    ("context_constant", {"context_name": "x"}, "context_value",
     "context_constant node missing context_value"),
    ("context_variable", values(("n", "ten", "number")), "context_values",
     'context_values[0].value: cannot convert "ten" to number'),
    ("context_variable", values(("n", 1, "integer")), "context_values",
     "context_values[0].type must be one of string, number, boolean, time_string, "
     "epoch_second, epoch_ms, null; got 'integer'"),
    ("context_constant", {"context_values": [{"value": 1, "type": "number"}]},
     "context_values", "context_values[0].name must be a non-empty string"),
    ("context_constant", {"context_values": ["x"]}, "context_values",
     "context_values[0] must be an object with name, value and type"),
])
def test_context_configuration_problems(load_problems, node_type, data, path, message):
    assert load_problems(node_type, data) == [
        {"path": f"$.nodes[0].data.{path}", "message": message}]


# -- overrides --------------------------------------------------------------------------------
def test_context_variable_coerces_an_override_to_its_declared_type(load_node):
    node = load_node("context_variable", values(("limit", 10, "number"), ("any", None, "null"),
                                                ("when", 0, "epoch_ms")))
    assert node.coerce("limit", "25") == 25
    assert node.coerce("when", 1000) == "1970-01-01T00:00:01Z"
    assert node.coerce("any", {"x": 1}) == {"x": 1}


def test_context_variable_override_of_the_wrong_type_is_refused(load_node):
    node = load_node("context_variable", values(("limit", 10, "number")))
    with pytest.raises(ValueError, match="^context variable 'limit' is a number: "
                                         'cannot convert "lots" to number$'):
        node.coerce("limit", "lots")


def test_context_variable_override_of_an_unknown_name_is_refused(load_node):
    node = load_node("context_variable", values(("limit", 10, "number")))
    with pytest.raises(ValueError, match="not defined by node 'n' \\(defined: limit\\)"):
        node.coerce("other", 1)


def test_context_variable_result_shows_an_overridden_value(run_node):
    data = values(("limit", 10, "number"))
    assert run_node("context_variable", data, context={"limit": 99})["variables"] == \
        {"limit": 99}


# -- end to end -------------------------------------------------------------------------------
def test_expressions_read_context_values_end_to_end(chain):
    payload = chain(
        ("vars", "context_variable", values(("rate", "0.5", "number"))),
        ("consts", "context_constant", values(("unit", "EUR", "string"))),
        ("n", "number", {"value": 10}),
        ("e", "expression", {"expression": "(input * context.rate) + ' ' + context.unit"}),
        edges=[{"source": "n", "target": "e"}],
    )
    result = engine.execute(payload)
    assert result.status == "succeeded", result.errors
    assert result.final_output == "5 EUR"
    assert result.node_results["vars"] == {"type": "variable", "variables": {"rate": 0.5}}


def test_inputs_override_context_variables_end_to_end(chain):
    payload = chain(
        ("vars", "context_variable", values(("rate", 2, "number"))),
        ("n", "number", {"value": 10}),
        ("e", "expression", {"expression": "input * context.rate"}),
        edges=[{"source": "n", "target": "e"}],
    )
    workflow = engine.Workflow.load(payload)
    assert workflow.execute().final_output == 20
    assert workflow.execute(inputs={"rate": 3}).final_output == 30
