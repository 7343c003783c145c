"""The editor's names: Thaiyyal's component type names (`rangeNode`, `mapNode`, ...) and
camelCase data keys load as our types and fields, and `canonical_definition` rewrites them."""

from __future__ import annotations

import pytest

from engine import PayloadError, Workflow, canonical_definition
from engine.node_names import EDITOR_TYPES
from engine.nodes.base import NODE_TYPES


def test_every_editor_name_maps_to_a_registered_type():
    assert set(EDITOR_TYPES.values()) <= set(NODE_TYPES)
    assert len(EDITOR_TYPES) == 47  # every entry of the editor's nodeInfo.ts


def test_an_editor_workflow_runs_as_its_canonical_twin():
    editor = {
        "nodes": [
            {"id": "r", "type": "rangeNode", "data": {"start": 1, "end": 4, "step": 1,
                                                      "label": "Range"}},
            {"id": "m", "type": "mapNode", "data": {"expression": "item * 2"}},
            {"id": "t", "type": "textInputNode", "data": {"text": "hi"}},
            {"id": "u", "type": "textOpNode", "data": {"textOp": "uppercase"}},
            {"id": "v", "type": "barChartNode", "data": {"orientation": "vertical"}},
        ],
        "edges": [{"source": "r", "target": "m"}, {"source": "t", "target": "u"},
                  {"source": "m", "target": "v"}],
    }
    result = Workflow.load(editor).execute()
    assert result.errors == []
    assert result.node_results["m"]["results"] == [2, 4, 6, 8]
    assert result.node_results["u"] == "HI"
    assert result.node_results["v"] == result.node_results["m"]
    assert [n.type_name for n in Workflow.load(editor).nodes] == [
        "range", "map", "text_input", "text_operation", "visualization"]


def test_canonical_definition_rewrites_types_and_camel_case_keys():
    saved = canonical_definition({"workflow_id": "w", "nodes": [
        {"id": "v", "type": "variableNode", "position": {"x": 1, "y": 2},
         "data": {"varName": "x", "varOp": "get", "label": "keep me"}},
        {"id": "c", "data": {"counterOp": "increment"}},          # untyped: inference keys
        {"id": "w", "type": "whileLoopNode", "data": {"condition": "input < 3",
                                                      "maxIterations": 5}},
    ], "edges": []})
    assert saved["nodes"] == [
        {"id": "v", "type": "variable", "position": {"x": 1, "y": 2},
         "data": {"var_name": "x", "var_op": "get", "label": "keep me"}},
        {"id": "c", "data": {"counter_op": "increment"}},
        {"id": "w", "type": "while_loop", "data": {"condition": "input < 3",
                                                   "max_iterations": 5}},
    ]
    assert saved["workflow_id"] == "w"


def test_loop_bodies_are_rewritten_too():
    saved = canonical_definition({"nodes": [
        {"id": "each", "type": "forEachNode", "data": {"body": {"nodes": [
            {"id": "up", "type": "textOpNode", "data": {"textOp": "uppercase"}}],
            "edges": []}}}]})
    body = saved["nodes"][0]["data"]["body"]
    assert body["nodes"][0] == {"id": "up", "type": "text_operation",
                                "data": {"text_op": "uppercase"}}


def test_a_snake_case_key_given_too_wins_and_unknown_camel_keys_stay():
    saved = canonical_definition({"nodes": [
        {"id": "v", "type": "number", "data": {"value": 1, "showValues": True}},
        {"id": "t", "type": "text_operation", "data": {"text_op": "lowercase",
                                                       "textOp": "uppercase"}}]})
    assert saved["nodes"][0]["data"] == {"value": 1, "showValues": True}
    assert saved["nodes"][1]["data"] == {"text_op": "lowercase", "textOp": "uppercase"}


def test_an_unknown_editor_like_name_is_still_refused():
    with pytest.raises(PayloadError) as info:
        Workflow.load({"nodes": [{"id": "a", "type": "warpDriveNode", "data": {}}]})
    assert info.value.problems[0].message == "unknown node type 'warpDriveNode'"


def test_an_untyped_node_is_typed_from_camel_case_keys_too():
    """Thaiyyal's loader infers from snake_case keys only; ours renames first (the
    `editor-keys` row of docs/compatibility.md)."""
    workflow = Workflow.load({"nodes": [
        {"id": "a", "data": {"varName": "x", "varOp": "get"}},
        {"id": "b", "data": {"counterOp": "increment"}},
        {"id": "c", "data": {"textOp": "uppercase"}}]})
    assert [n.type_name for n in workflow.nodes] == ["variable", "counter", "text_operation"]
