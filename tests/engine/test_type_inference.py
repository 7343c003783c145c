"""A node saved without `type` gets the type Thaiyyal's loader gives it, by the same keys in
the same order of precedence (backend/pkg/types/node_decoder.go, inferTypeFromRawData)."""

from __future__ import annotations

import pytest

from engine import PayloadError, Workflow


def inferred(data):
    return Workflow.load({"nodes": [{"id": "n", "data": data}]}).nodes[0].type_name


@pytest.mark.parametrize(("data", "expected"), [
    ({"value": 3}, "number"),
    ({"text": "hi"}, "text_input"),
    ({"boolean_value": True}, "boolean_input"),
    ({"date_value": "2024-01-02"}, "date_input"),
    ({"datetime_value": "2024-01-02T03:04:05Z"}, "datetime_input"),
    ({"mode": "text"}, "visualization"),
    ({"op": "add"}, "operation"),
    ({"text_op": "uppercase"}, "text_operation"),
    ({"url": "https://example.com/"}, "http"),
    ({"condition": ">0", "true_path": "yes"}, "condition"),
    ({"condition": ">0"}, "filter"),
    ({"expression": "accumulator + item", "initial_value": 0}, "reduce"),
    ({"expression": "input * 2"}, "expression"),
    ({"var_name": "x", "var_op": "get"}, "variable"),
    ({"field": "name"}, "extract"),
    ({"fields": ["a", "b"]}, "extract"),
    ({"transform_type": "keys"}, "transform"),
    ({"accum_op": "sum"}, "accumulator"),
    ({"counter_op": "increment"}, "counter"),
    ({"cases": [{"when": "true", "is_default": True}]}, "switch"),
    ({"join_strategy": "all"}, "join"),
    ({"paths": ["a", "b"]}, "split"),
    ({"duration": "10ms"}, "delay"),
    ({"cache_op": "get", "cache_key": "k"}, "cache"),
    ({"context_name": "env", "context_value": "prod"}, "context_variable"),
    ({"context_values": [{"name": "env", "value": "prod", "type": "string"}]},
     "context_variable"),
    ({"max_attempts": 3}, "retry"),
    ({"backoff_strategy": "exponential"}, "retry"),
    ({"fallback_value": 0}, "try_catch"),
    ({"continue_on_error": True}, "try_catch"),
    ({"timeout": "1s", "timeout_action": "error"}, "timeout"),
])
def test_each_key_thaiyyal_looks_at_gives_its_type(data, expected):
    assert inferred(data) == expected


@pytest.mark.parametrize(("data", "expected"), [
    # value is looked at first, whatever else is there
    ({"value": 1, "op": "add", "text": "t"}, "number"),
    ({"text": "t", "mode": "text"}, "text_input"),
    ({"mode": "text", "url": "https://example.com/"}, "visualization"),
    # condition comes before expression and field
    ({"condition": ">1", "expression": "item", "field": "x"}, "filter"),
    # an expression that is not a non-empty string does not make an expression node
    ({"expression": "", "field": "x"}, "extract"),
    ({"expression": 5, "counter_op": "get"}, "counter"),
    # var_name alone is not a variable node; field then decides
    ({"var_name": "x", "field": "y"}, "extract"),
    # cases before join_strategy, duration before cache
    ({"cases": [{"when": "true", "is_default": True}], "join_strategy": "any"}, "switch"),
    ({"duration": "1s", "cache_op": "get", "cache_key": "k"}, "delay"),
    # retry's keys come before try_catch's, and try_catch's before timeout's
    ({"max_attempts": 2, "fallback_value": 0}, "retry"),
    ({"fallback_value": 0, "timeout": "1s", "timeout_action": "error"}, "try_catch"),
])
def test_precedence_is_thaiyyals(data, expected):
    assert inferred(data) == expected


@pytest.mark.parametrize("data", [
    {"colour": "red"},
    {"var_name": "x"},               # var_op is needed too
    {"cache_op": "get"},             # cache_key is needed too
    {"timeout": "1s"},               # timeout_action is needed too
    {"expression": ""},
    {},
])
def test_data_no_rule_matches_is_refused_with_its_path(data):
    with pytest.raises(PayloadError) as info:
        Workflow.load({"nodes": [{"id": "n", "data": data}]})
    assert [(p.path, p.message) for p in info.value.problems] == [
        ("$.nodes[0].type", "required: cannot infer the node type from its data")]


def test_inferred_workflow_runs_like_a_typed_one():
    wf = Workflow.load({
        "nodes": [{"id": "a", "data": {"value": 4}}, {"id": "b", "data": {"value": 6}},
                  {"id": "c", "data": {"op": "add"}},
                  {"id": "d", "data": {"text_op": "uppercase"}},
                  {"id": "t", "data": {"text": "hi"}}],
        "edges": [{"source": "a", "target": "c"}, {"source": "b", "target": "c"},
                  {"source": "t", "target": "d"}],
    })
    result = wf.execute()
    assert result.node_results["c"] == 10
    assert result.node_results["d"] == "HI"
