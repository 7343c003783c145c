"""Input nodes (number, text_input, boolean_input, date_input, datetime_input) and the
pass-through display nodes (visualization, renderer)."""

from __future__ import annotations

import pytest

import engine


@pytest.mark.parametrize(("node_type", "data", "expected"), [
    ("number", {"value": 42}, 42),
    ("number", {"value": -1.5}, -1.5),
    ("number", {"value": "7"}, 7),
    ("text_input", {"text": "hello"}, "hello"),
    ("text_input", {"text": ""}, ""),
    ("boolean_input", {"boolean_value": True}, True),
    ("boolean_input", {"boolean_value": "false"}, False),
    ("boolean_input", {}, False),
    ("date_input", {"date_value": "2024-02-29"}, "2024-02-29"),
    ("datetime_input", {"datetime_value": "2024-02-29T10:00:00Z"}, "2024-02-29T10:00:00Z"),
])
def test_input_node_returns_its_value(run_node, node_type, data, expected):
    assert run_node(node_type, data) == expected


def test_input_node_ignores_its_inputs(run_node):
    assert run_node("number", {"value": 3}, 99, "x") == 3


@pytest.mark.parametrize(("node_type", "data", "path", "message"), [
    ("number", {}, "$.nodes[0].data.value", "required (number)"),
    ("number", {"value": "abc"}, "$.nodes[0].data.value", "must be a number, got string"),
    ("number", {"value": True}, "$.nodes[0].data.value", "must be a number, got boolean"),
    ("text_input", {}, "$.nodes[0].data.text", "required (string)"),
    ("text_input", {"text": 5}, "$.nodes[0].data.text", "must be a string, got number"),
    ("boolean_input", {"boolean_value": "maybe"}, "$.nodes[0].data.boolean_value",
     "must be a boolean, got string"),
    ("date_input", {}, "$.nodes[0].data.date_value", "required (string)"),
    ("datetime_input", {}, "$.nodes[0].data.datetime_value", "required (string)"),
])
def test_input_node_with_bad_data_is_a_payload_error(load_problems, node_type, data, path,
                                                      message):
    assert load_problems(node_type, data) == [{"path": path, "message": message}]


@pytest.mark.parametrize("value", [5, "text", [1, 2], {"a": 1}, None, True])
def test_visualization_passes_its_first_input_through(run_node, value):
    assert run_node("visualization", {"mode": "table"}, value, "second") == value


def test_visualization_without_input_fails(run_node):
    with pytest.raises(engine.NodeError, match="^visualization needs at least 1 input$"):
        run_node("visualization", {"mode": "chart"})


def test_renderer_passes_its_first_input_through(run_node):
    assert run_node("renderer", {}, {"rows": [1]}) == {"rows": [1]}


def test_renderer_without_input_returns_null(run_node):
    assert run_node("renderer", {"mode": "auto"}) is None


def test_number_feeds_visualization_end_to_end(chain):
    result = engine.execute(chain(("n", "number", {"value": 10}),
                                  ("v", "visualization", {"mode": "text"})))
    assert result.status == "succeeded"
    assert result.node_results == {"n": 10, "v": 10}
    assert result.final_output == 10


def test_type_is_inferred_from_value_and_text_keys():
    payload = {"nodes": [{"id": "a", "data": {"value": 1}}, {"id": "b", "data": {"text": "t"}}],
               "edges": []}
    result = engine.execute(payload)
    assert result.node_results == {"a": 1, "b": "t"}
