"""`filter`, `map` and `reduce`: Thaiyyal's envelopes, per-item errors, the docs' forms."""

from __future__ import annotations

import pytest

import engine

PEOPLE = [{"name": "Ada", "age": 36}, {"name": "Bo", "age": 12}, {"name": "Cy", "age": 18}]


# -- filter -----------------------------------------------------------------------------------
def test_filter_keeps_items_matching_the_condition(run_node):
    assert run_node("filter", {"condition": "item % 3 == 0"}, list(range(10))) == {
        "filtered": [0, 3, 6, 9], "input_count": 10, "output_count": 4, "skipped_count": 6,
        "error_count": 0, "condition": "item % 3 == 0", "is_array": True}


def test_filter_accepts_expression_as_the_docs_write_it(run_node):
    result = run_node("filter", {"expression": "item.age >= 18"}, PEOPLE)
    assert result["filtered"] == [PEOPLE[0], PEOPLE[2]]
    assert result["condition"] == "item.age >= 18"


def test_filter_can_use_the_index(run_node):
    assert run_node("filter", {"condition": "index < 2"}, ["a", "b", "c"])["filtered"] \
        == ["a", "b"]


@pytest.mark.parametrize("key", ["range", "array", "items", "data", "values"])
def test_filter_finds_the_array_inside_an_object_input(run_node, key):
    result = run_node("filter", {"condition": "item > 1"}, {key: [1, 2, 3], "other": 1})
    assert result["filtered"] == [2, 3]
    assert result["input_count"] == 3


def test_filter_looks_for_the_array_keys_in_order(run_node):
    value = {"values": [10, 20], "items": "not an array", "data": [1, 2, 3]}
    assert run_node("filter", {"condition": "true"}, value)["filtered"] == [1, 2, 3]


@pytest.mark.parametrize(("value", "type_name"), [
    ("hello", "string"), (42, "number"), (True, "boolean"), (None, "null"),
    ({"key": "value"}, "object"),
])
def test_filter_passes_a_non_array_through(run_node, value, type_name):
    assert run_node("filter", {"condition": "true"}, value) == {
        "input": value, "filtered": value, "is_array": False,
        "warning": "input is not an array, passed through unchanged",
        "original_type": type_name}


def test_filter_skips_and_counts_items_whose_condition_fails(run_node):
    result = run_node("filter", {"condition": "item.toUpperCase() == 'A'"}, ["a", 1, "b", "a"])
    assert result == {"filtered": ["a", "a"], "input_count": 4, "output_count": 2,
                      "skipped_count": 2, "error_count": 1,
                      "condition": "item.toUpperCase() == 'A'", "is_array": True}


def test_filter_needs_an_input(run_node):
    with pytest.raises(engine.NodeError, match="^filter node needs at least 1 input$"):
        run_node("filter", {"condition": "true"})


def test_filter_condition_is_required(load_problems):
    assert load_problems("filter", {}) == [
        {"path": "$.nodes[0].data.condition", "message": "required (expression)"}]


# -- map --------------------------------------------------------------------------------------
def test_map_transforms_every_item_with_the_expression(run_node):
    assert run_node("map", {"expression": "item * 2"}, [1, 2, 3]) == {
        "results": [2, 4, 6], "input_count": 3, "output_count": 3, "successful": 3,
        "failed": 0}


def test_map_expression_sees_index_and_items(run_node):
    result = run_node("map", {"expression": "item + index * items.length"}, [1, 1, 1])
    assert result["results"] == [1, 4, 7]


def test_map_picks_a_field_from_every_object(run_node):
    assert run_node("map", {"field": "name"}, PEOPLE)["results"] == ["Ada", "Bo", "Cy"]


def test_map_field_missing_or_not_an_object_becomes_null(run_node):
    assert run_node("map", {"field": "name"}, [{"name": "Ada"}, {"id": 2}, 7]) == {
        "results": ["Ada", None, None], "input_count": 3, "output_count": 3, "successful": 1,
        "failed": 2}


def test_map_item_that_fails_becomes_null_in_place(run_node):
    assert run_node("map", {"expression": "item.toUpperCase()"}, ["a", 1, "c"]) == {
        "results": ["A", None, "C"], "input_count": 3, "output_count": 3, "successful": 2,
        "failed": 1}


def test_map_takes_the_array_inside_an_upstream_envelope(run_node):
    filtered = {"filtered": [1, 2], "input_count": 3, "is_array": True}
    assert run_node("map", {"expression": "item * 2"}, filtered)["results"] == [2, 4]


@pytest.mark.parametrize(("value", "name"), [({"items": "no"}, "object"), ("abc", "string")])
def test_map_needs_an_array(run_node, value, name):
    with pytest.raises(engine.NodeError, match=f"^map node requires array input, got {name}$"):
        run_node("map", {"expression": "item"}, value)


def test_map_needs_an_input(run_node):
    with pytest.raises(engine.NodeError, match="^map node needs at least 1 input$"):
        run_node("map", {"field": "a"})


@pytest.mark.parametrize(("data", "path", "message"), [
    ({}, "expression", "map node requires either 'expression' or 'field' to be specified"),
    ({"expression": "item", "field": "a"}, "field",
     "map node cannot have both 'expression' and 'field' specified, choose one"),
])
def test_map_needs_exactly_one_of_expression_and_field(load_problems, data, path, message):
    assert load_problems("map", data) == [
        {"path": f"$.nodes[0].data.{path}", "message": message}]


# -- reduce -----------------------------------------------------------------------------------
def test_reduce_sums_from_zero_by_default(run_node):
    assert run_node("reduce", {"expression": "accumulator + item"}, [1, 2, 3]) == {
        "result": 6, "initial_value": None, "final_value": 6, "input_count": 3,
        "iterations": 3, "successful": 3, "failed": 0}


def test_reduce_starts_from_initial_value(run_node):
    result = run_node("reduce", {"expression": "accumulator + item", "initial_value": ""},
                      ["a", "b", "c"])
    assert result["result"] == "abc"
    assert result["initial_value"] == ""


def test_reduce_over_an_empty_array_is_the_initial_value(run_node):
    result = run_node("reduce", {"expression": "accumulator + item", "initial_value": 5}, [])
    assert result == {"result": 5, "initial_value": 5, "final_value": 5, "input_count": 0,
                      "iterations": 0, "successful": 0, "failed": 0}


def test_reduce_finds_the_maximum_with_a_ternary(run_node):
    data = {"expression": "item > accumulator ? item : accumulator"}
    assert run_node("reduce", data, [5, 2, 8, 1])["result"] == 8


def test_reduce_skips_items_whose_expression_fails(run_node):
    data = {"expression": "accumulator + item.toUpperCase()", "initial_value": ""}
    assert run_node("reduce", data, ["a", 1, "b"]) == {
        "result": "AB", "initial_value": "", "final_value": "AB", "input_count": 3,
        "iterations": 3, "successful": 2, "failed": 1}


def test_reduce_takes_the_array_inside_an_upstream_envelope(run_node):
    mapped = {"results": [2, 4], "input_count": 2, "successful": 2, "failed": 0}
    assert run_node("reduce", {"expression": "accumulator + item"}, mapped)["result"] == 6


@pytest.mark.parametrize(("value", "name"), [({"count": 1}, "object"), (3, "number")])
def test_reduce_needs_an_array(run_node, value, name):
    with pytest.raises(engine.NodeError,
                       match=f"^reduce node requires array input, got {name}$"):
        run_node("reduce", {"expression": "accumulator"}, value)


def test_reduce_needs_an_input(run_node):
    with pytest.raises(engine.NodeError, match="^reduce node needs at least 1 input$"):
        run_node("reduce", {"expression": "accumulator"})


def test_reduce_expression_is_required(load_problems):
    assert load_problems("reduce", {"initial_value": 0}) == [
        {"path": "$.nodes[0].data.expression", "message": "required (expression)"}]


# -- end to end -------------------------------------------------------------------------------
def test_filter_map_reduce_pipeline_end_to_end():
    payload = {
        "nodes": [
            {"id": "src", "type": "expression", "data": {"expression": "[1, 2, 3, 4, 5, 6]"}},
            {"id": "f", "data": {"condition": "item % 2 == 0"}},
            {"id": "f2", "type": "expression", "data": {"expression": "input.filtered"}},
            {"id": "m", "type": "map", "data": {"expression": "item * 10"}},
            {"id": "m2", "type": "expression", "data": {"expression": "input.results"}},
            {"id": "r", "data": {"expression": "accumulator + item", "initial_value": 0}},
        ],
        "edges": [{"source": a, "target": b} for a, b in
                  [("src", "f"), ("f", "f2"), ("f2", "m"), ("m", "m2"), ("m2", "r")]],
    }
    result = engine.execute(payload)
    assert result.status == "succeeded"
    assert result.node_results["f"]["filtered"] == [2, 4, 6]
    assert result.final_output["result"] == 120
