"""State nodes: variable, extract, transform, accumulator, counter."""

from __future__ import annotations

import threading

import pytest

import engine
from engine import Limits
from engine.state import NodeContext, Run

USER = {"id": 7, "name": "Ada", "address": {"city": "Paris", "zip": "75001"},
        "tags": ["x", "y"], "a.b": "literal"}


def run_twice(load_node, node_type, data, first_inputs, second_inputs, limits=None):
    """Run one loaded node twice inside the same run (as a loop body would)."""
    node = load_node(node_type, data)
    run = Run("test", limits or Limits(), {}, None, None)
    ctx = NodeContext(run, node.id)
    return node.run(list(first_inputs), ctx), node.run(list(second_inputs), ctx), run


# -- variable ---------------------------------------------------------------------------------
def test_variable_set_stores_the_input_and_get_reads_it(load_node):
    setter = load_node("variable", {"var_name": "total", "var_op": "set"})
    getter = load_node("variable", {"var_name": "total", "var_op": "get"})
    run = Run("test", Limits(), {}, None, None)
    assert setter.run([42, "ignored"], NodeContext(run, "s")) == {
        "var_name": "total", "operation": "set", "value": 42}
    assert getter.run([], NodeContext(run, "g")) == {
        "var_name": "total", "operation": "get", "value": 42}
    assert run.state.variables == {"total": 42}


def test_variable_get_of_a_missing_name_fails(run_node):
    with pytest.raises(engine.NodeError, match="^variable 'nope' not found$"):
        run_node("variable", {"var_name": "nope", "var_op": "get"})


def test_variable_set_needs_an_input(run_node):
    with pytest.raises(engine.NodeError, match="^variable set operation requires input value$"):
        run_node("variable", {"var_name": "x", "var_op": "set"})


@pytest.mark.parametrize(("data", "path", "message"), [
    ({"var_op": "get"}, "var_name", "required (string)"),
    ({"var_name": "x"}, "var_op", "required (string)"),
    ({"var_name": "x", "var_op": "delete"}, "var_op",
     "unsupported variable operation: delete (must be one of get, set)"),
    ({"var_name": "", "var_op": "get"}, "var_name", "variable node requires a non-empty var_name"),
])
def test_variable_configuration_problems(load_problems, data, path, message):
    assert load_problems("variable", data) == [
        {"path": f"$.nodes[0].data.{path}", "message": message}]


def test_variable_set_is_visible_to_later_expressions_end_to_end(chain):
    payload = chain(("n", "number", {"value": 5}),
                    ("v", "variable", {"var_name": "x", "var_op": "set"}),
                    ("e", "expression", {"expression": "variables.x * 2"}))
    assert engine.execute(payload).final_output == 10


# -- extract ----------------------------------------------------------------------------------
def test_extract_field_returns_field_and_value(run_node):
    assert run_node("extract", {"field": "name"}, USER) == {"field": "name", "value": "Ada"}


def test_extract_field_follows_a_dotted_path(run_node):
    assert run_node("extract", {"field": "address.city"}, USER) == {
        "field": "address.city", "value": "Paris"}
    assert run_node("extract", {"field": "tags.1"}, USER)["value"] == "y"


def test_extract_prefers_a_literal_key_with_a_dot(run_node):
    assert run_node("extract", {"field": "a.b"}, USER)["value"] == "literal"


@pytest.mark.parametrize("field", ["missing", "address.street", "tags.5", "name.first"])
def test_extract_missing_field_fails(run_node, field):
    with pytest.raises(engine.NodeError, match=f"^field '{field}' not found in input object$"):
        run_node("extract", {"field": field}, USER)


def test_extract_fields_returns_the_present_ones(run_node):
    assert run_node("extract", {"fields": ["id", "missing", "address.zip"]}, USER) == {
        "id": 7, "address.zip": "75001"}


def test_extract_null_value_is_found(run_node):
    assert run_node("extract", {"field": "v"}, {"v": None}) == {"field": "v", "value": None}


@pytest.mark.parametrize(("value", "name"), [([1], "array"), ("s", "string"), (None, "null")])
def test_extract_needs_an_object(run_node, value, name):
    with pytest.raises(engine.NodeError, match=f"^extract node requires object input, got {name}$"):
        run_node("extract", {"field": "a"}, value)


def test_extract_needs_an_input(run_node):
    with pytest.raises(engine.NodeError, match="^extract node requires input$"):
        run_node("extract", {"field": "a"})


@pytest.mark.parametrize(("data", "path", "message"), [
    ({"fields": []}, "field", "extract node requires 'field' or 'fields' configuration"),
    ({"fields": ["a", 3]}, "fields", "fields[1] must be a string, got number"),
])
def test_extract_configuration_problems(load_problems, data, path, message):
    assert load_problems("extract", data) == [
        {"path": f"$.nodes[0].data.{path}", "message": message}]


def test_extract_type_is_inferred_from_its_field():
    payload = {"nodes": [{"id": "t", "type": "text_input", "data": {"text": '{"a": 1}'}},
                         {"id": "p", "type": "parse", "data": {}},
                         {"id": "x", "data": {"field": "a"}}],
               "edges": [{"source": "t", "target": "p"}, {"source": "p", "target": "x"}]}
    assert engine.execute(payload).final_output == {"field": "a", "value": 1}


# -- transform --------------------------------------------------------------------------------
def test_transform_to_array_collects_all_inputs(run_node):
    assert run_node("transform", {"transform_type": "to_array"}, 1, "b", [3]) == [1, "b", [3]]


def test_transform_to_object_pairs_keys_and_values(run_node):
    assert run_node("transform", {"transform_type": "to_object"}, ["a", 1, "b", [2], "c"]) == \
        {"a": 1, "b": [2]}


def test_transform_flatten_flattens_every_level(run_node):
    assert run_node("transform", {"transform_type": "flatten"}, [1, [2, [3, [4]], []], 5]) == \
        [1, 2, 3, 4, 5]


def test_transform_flatten_survives_very_deep_nesting(run_node):
    nested: list = [1]
    for _ in range(5000):
        nested = [nested]
    assert run_node("transform", {"transform_type": "flatten"}, nested) == [1]


def test_transform_keys_and_values(run_node):
    assert run_node("transform", {"transform_type": "keys"}, {"a": 1, "b": 2}) == ["a", "b"]
    assert run_node("transform", {"transform_type": "values"}, {"a": 1, "b": 2}) == [1, 2]


@pytest.mark.parametrize(("kind", "value", "message"), [
    ("to_object", {"a": 1}, "to_object requires array input, got object"),
    ("to_object", [1, 2], "to_object requires string keys at index 0"),
    ("flatten", "abc", "flatten requires array input, got string"),
    ("keys", [1], "keys transform requires object input, got array"),
    ("values", 3, "values transform requires object input, got number"),
])
def test_transform_wrong_input_type_fails(run_node, kind, value, message):
    with pytest.raises(engine.NodeError, match=f"^{message}$"):
        run_node("transform", {"transform_type": kind}, value)


def test_transform_needs_an_input(run_node):
    with pytest.raises(engine.NodeError, match="^transform node requires input$"):
        run_node("transform", {"transform_type": "keys"})


def test_transform_expression_maps_the_input(run_node):
    value = {"values": [{"id": 1, "ok": True}, {"id": 2, "ok": False}], "count": 2}
    assert run_node("transform", {"expression": "map(input.values, item.id)"}, value) == [1, 2]


def test_transform_expression_filters_and_extracts_in_one_node(run_node):
    value = {"values": [{"id": 1, "ok": True}, {"id": 2, "ok": False}, {"id": 3, "ok": True}]}
    data = {"expression": "map(filter(input.values, item.ok), item.id)"}
    assert run_node("transform", data, value) == [1, 3]


def test_transform_expression_error_fails_the_node(run_node):
    with pytest.raises(engine.ExpressionError):
        run_node("transform", {"expression": "input.toUpperCase()"}, 5)


@pytest.mark.parametrize(("data", "path", "message"), [
    ({}, "transform_type", "transform node requires 'transform_type' or 'expression'"),
    ({"transform_type": "to_array", "expression": "input"}, "expression",
     "transform node takes either 'transform_type' or 'expression', not both"),
    ({"transform_type": "explode"}, "transform_type",
     "unsupported transform type: explode (must be one of to_array, to_object, flatten, "
     "keys, values)"),
])
def test_transform_configuration_problems(load_problems, data, path, message):
    assert load_problems("transform", data) == [
        {"path": f"$.nodes[0].data.{path}", "message": message}]


def test_transform_to_array_respects_max_array_length(run_node):
    with pytest.raises(engine.LimitExceeded, match="max_array_length=2"):
        run_node("transform", {"transform_type": "to_array"}, 1, 2, 3,
                 limits=Limits(max_array_length=2))


def test_docs_filter_extract_transform_after_a_join_end_to_end():
    """docs/performance.md's optimised workflow ends in `transform {expression}`."""
    payload = {
        "nodes": [
            {"id": "a", "type": "text_input", "data": {"text": '[{"id": 1, "ok": true}]'}},
            {"id": "b", "type": "text_input", "data": {"text": '[{"id": 2, "ok": false}]'}},
            {"id": "pa", "type": "parse", "data": {"input_type": "JSON"}},
            {"id": "pb", "type": "parse", "data": {"input_type": "JSON"}},
            {"id": "both", "type": "transform", "data": {"transform_type": "to_array"}},
            {"id": "filter_extract", "type": "transform",
             "data": {"expression": "map(filter(flatten(input), item.ok), item.id)"}},
        ],
        "edges": [{"source": "a", "target": "pa"}, {"source": "b", "target": "pb"},
                  {"source": "pa", "target": "both"}, {"source": "pb", "target": "both"},
                  {"source": "both", "target": "filter_extract"}],
    }
    assert engine.execute(payload).final_output == [1]


# -- accumulator ------------------------------------------------------------------------------
@pytest.mark.parametrize(("op", "first", "second", "values"), [
    ("sum", 2, 3.5, (2, 5.5)),
    ("product", 2, 3, (2, 6)),
    ("concat", "ab", "c", ("ab", "abc")),
    ("array", {"a": 1}, None, ([{"a": 1}], [{"a": 1}, None])),
    ("count", "anything", 0, (1, 2)),
])
def test_accumulator_accumulates_across_executions(load_node, op, first, second, values):
    one, two, _ = run_twice(load_node, "accumulator", {"accum_op": op}, [first], [second])
    assert (one, two) == ({"operation": op, "value": values[0]},
                          {"operation": op, "value": values[1]})


def test_accumulator_starts_from_initial_value(load_node):
    one, two, _ = run_twice(load_node, "accumulator", {"accum_op": "sum", "initial_value": 10},
                            [1], [2])
    assert (one["value"], two["value"]) == (11, 13)


def test_accumulator_without_input_reports_its_value(load_node):
    one, two, _ = run_twice(load_node, "accumulator", {"accum_op": "concat"}, [], ["x"])
    assert (one, two) == ({"operation": "concat", "value": ""},
                          {"operation": "concat", "value": "x"})


def test_accumulator_array_never_changes_an_earlier_result(load_node):
    one, two, _ = run_twice(load_node, "accumulator", {"accum_op": "array"}, [1], [2])
    assert one["value"] == [1]
    assert two["value"] == [1, 2]


def test_each_accumulator_node_keeps_its_own_value(load_node):
    run = Run("test", Limits(), {}, None, None)
    node = load_node("accumulator", {"accum_op": "sum"})
    assert node.run([5], NodeContext(run, "n"))["value"] == 5
    run.state.accumulators["other"] = 100
    assert node.run([5], NodeContext(run, "n"))["value"] == 10


@pytest.mark.parametrize(("op", "value", "message"), [
    ("sum", "3", "sum accumulator requires numeric input, got string"),
    ("product", True, "product accumulator requires numeric input, got boolean"),
    ("concat", 3, "concat accumulator requires string input, got number"),
])
def test_accumulator_wrong_input_type_fails(run_node, op, value, message):
    with pytest.raises(engine.NodeError, match=f"^{message}$"):
        run_node("accumulator", {"accum_op": op}, value)


def test_accumulator_array_respects_max_array_length(load_node):
    with pytest.raises(engine.LimitExceeded, match="max_array_length=1"):
        run_twice(load_node, "accumulator", {"accum_op": "array"}, [1], [2],
                  limits=Limits(max_array_length=1))


def test_accumulator_concat_respects_max_string_length(load_node):
    with pytest.raises(engine.LimitExceeded, match="max_string_length=4"):
        run_twice(load_node, "accumulator", {"accum_op": "concat"}, ["abc"], ["de"],
                  limits=Limits(max_string_length=4))


@pytest.mark.parametrize(("data", "path", "message"), [
    ({}, "accum_op", "required (string)"),
    ({"accum_op": "median"}, "accum_op",
     "unsupported accumulator operation: median (must be one of sum, count, product, "
     "concat, array)"),
    ({"accum_op": "sum", "initial_value": "0"}, "initial_value",
     "sum accumulator needs a number initial_value, got string"),
    ({"accum_op": "array", "initial_value": {}}, "initial_value",
     "array accumulator needs a array initial_value, got object"),
])
def test_accumulator_configuration_problems(load_problems, data, path, message):
    assert load_problems("accumulator", data) == [
        {"path": f"$.nodes[0].data.{path}", "message": message}]


def test_accumulator_is_safe_across_threads(load_node):
    node = load_node("accumulator", {"accum_op": "sum"})
    run = Run("test", Limits(), {}, None, None)

    def add_many() -> None:
        ctx = NodeContext(run, node.id)
        for _ in range(500):
            node.run([1], ctx)

    threads = [threading.Thread(target=add_many) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert run.state.accumulators[node.id] == 2000


# -- counter ----------------------------------------------------------------------------------
def counters(load_node, *ops):
    """Run counter nodes (data dicts) one after another in one run; their values."""
    run = Run("test", Limits(), {}, None, None)
    return [load_node("counter", data).run([], NodeContext(run, "c"))["value"] for data in ops]


def test_counter_increments_and_decrements_by_delta(load_node):
    assert counters(load_node, {"counter_op": "increment"}, {"counter_op": "increment"},
                    {"counter_op": "decrement", "delta": 5},
                    {"counter_op": "get"}) == [1, 2, -3, -3]


def test_counter_starts_at_initial_value_and_resets_to_it(load_node):
    assert counters(load_node, {"counter_op": "increment", "initial_value": 10},
                    {"counter_op": "increment", "initial_value": 10, "delta": 2.5},
                    {"counter_op": "reset", "initial_value": 10},
                    {"counter_op": "reset"}) == [11, 13.5, 10, 0]


def test_counter_get_of_an_untouched_counter_is_its_start(run_node):
    assert run_node("counter", {"counter_op": "get"}) == {"operation": "get", "value": 0}


def test_counter_names_keep_counters_apart(load_node):
    assert counters(load_node, {"counter_op": "increment", "counter_name": "a"},
                    {"counter_op": "increment", "counter_name": "b", "delta": 10},
                    {"counter_op": "get", "counter_name": "a"}) == [1, 10, 1]


@pytest.mark.parametrize(("data", "path", "message"), [
    ({}, "counter_op", "required (string)"),
    ({"counter_op": "double"}, "counter_op",
     "unsupported counter operation: double (must be one of increment, decrement, reset, get)"),
    ({"counter_op": "increment", "delta": "x"}, "delta", "must be a number, got string"),
])
def test_counter_configuration_problems(load_problems, data, path, message):
    assert load_problems("counter", data) == [
        {"path": f"$.nodes[0].data.{path}", "message": message}]


def test_counter_in_a_for_each_body_counts_every_iteration_end_to_end():
    body = {"nodes": [{"id": "inc", "type": "counter", "data": {"counter_op": "increment"}}],
            "edges": []}
    payload = {
        "nodes": [
            {"id": "r", "type": "range", "data": {"start": 1, "end": 4}},
            {"id": "loop", "type": "for_each", "data": {"body": body}},
            {"id": "total", "type": "counter", "data": {"counter_op": "get"}},
        ],
        "edges": [{"source": "r", "target": "loop"}, {"source": "loop", "target": "total"}],
    }
    result = engine.execute(payload)
    assert result.status == "succeeded", result.errors
    assert result.final_output == {"operation": "get", "value": 4}
