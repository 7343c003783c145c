"""`variables.item` and `variables.index` are the current item and its position in every
per-item expression, as in Thaiyyal (its filter, map, reduce, partition and find put them in
the expression's variables), besides the plain `item` and `index`."""

from __future__ import annotations

import pytest

from engine import Workflow
from tests.engine.payloads import edge, node


def run_on_range(node_type, **data):
    result = Workflow.load({
        "nodes": [node("r", "range", start=1, end=10), node("n", node_type, **data)],
        "edges": [edge("r", "n")],
    }).execute()
    assert result.errors == []
    return result.node_results["n"]


def test_filter_reads_the_item_as_variables_item():
    out = run_on_range("filter", condition="variables.item % 2 == 0")
    assert out["filtered"] == [2, 4, 6, 8, 10]
    assert out["error_count"] == 0


def test_filter_reads_the_position_as_variables_index():
    assert run_on_range("filter", condition="variables.index < 3")["filtered"] == [1, 2, 3]


def test_map_reads_item_and_index_through_variables():
    out = run_on_range("map", expression="variables.item * 10 + variables.index")
    assert out["results"] == [10, 21, 32, 43, 54, 65, 76, 87, 98, 109]


def test_reduce_reads_the_item_through_variables():
    out = run_on_range("reduce", expression="accumulator + variables.item", initial_value=0)
    assert out["result"] == 55


def test_partition_and_find_read_the_item_through_variables():
    assert run_on_range("partition", condition="variables.item > 7")["passed"] == [8, 9, 10]
    found = run_on_range("find", condition="variables.item * variables.item > 30")
    assert found["found"] == 6


def test_per_item_fallback_binds_them_too():
    # one item makes the expression fail: filter redoes the list item by item
    result = Workflow.load({
        "nodes": [node("a", "expression", expression="[1, 'x', 3, 4]"),
                  node("f", "filter", condition="variables.item * 2 > 4 && variables.index >= 0")],
        "edges": [edge("a", "f")],
    }).execute()
    out = result.node_results["f"]
    assert out["filtered"] == [3, 4]
    assert out["error_count"] == 1


def test_array_functions_bind_them_per_element():
    result = Workflow.load({"nodes": [
        node("e", "expression", expression="map([5, 6, 7], variables.item + variables.index)"),
    ]}).execute()
    assert result.final_output == [5, 7, 9]


@pytest.mark.parametrize(("expression", "expected"), [
    ("variables.item + 1", 8),       # outside a per-item evaluation: the input
    ("variables.input * 2", 14),
])
def test_outside_a_loop_they_are_the_input(expression, expected):
    result = Workflow.load({
        "nodes": [node("a", "number", value=7), node("e", "expression", expression=expression)],
        "edges": [edge("a", "e")],
    }).execute()
    assert result.final_output == expected


def test_a_variable_named_item_wins_outside_a_loop_only():
    result = Workflow.load({
        "nodes": [node("v0", "number", value=100),
                  node("v", "variable", var_name="item", var_op="set"),
                  node("a", "number", value=7),
                  node("e", "expression", expression="variables.item"),
                  node("r", "range", start=1, end=3),
                  node("m", "map", expression="variables.item")],
        "edges": [edge("v0", "v"), edge("v", "a"), edge("a", "e"), edge("v", "r"),
                  edge("r", "m")],
    }).execute()
    assert result.node_results["e"] == 100
    assert result.node_results["m"]["results"] == [1, 2, 3]
