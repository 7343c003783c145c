"""Errors a client matches on carry Thaiyyal's wording, with our limit name and value (or
JSON path) beside it: `workflow execution timeout: exceeded 100ms`, `map node requires array
input`, `maximum node executions exceeded`, `error executing node <id>: ...`."""

from __future__ import annotations

import pytest

from engine import Limits, Workflow
from engine.errors import go_duration
from tests.engine.payloads import edge, node


def run(nodes, edges=(), limits=None):
    return Workflow.load({"nodes": nodes, "edges": list(edges)}).execute(limits=limits)


def test_run_time_limit_reads_like_thaiyyals_timeout():
    result = run([node("wait", "delay", duration="2s")], limits=Limits(max_execution_time=0.1))
    (message,) = result.errors
    assert "workflow execution timeout: exceeded 100ms" in message
    assert "max_execution_time=0.1s" in message
    assert result.error["code"] == "limit_exceeded"


def test_node_errors_say_which_node_as_thaiyyal_does():
    result = run([node("n", "number", value=3), node("m", "map", expression="item")],
                 [edge("n", "m")])
    assert result.errors == ["error executing node m: map node requires array input, "
                             "got number"]


def test_node_execution_limit_reads_like_thaiyyals():
    result = run([node(f"n{i}", "number", value=i) for i in range(4)],
                 limits=Limits(max_node_executions=2))
    (message,) = result.errors
    assert "maximum node executions exceeded" in message
    assert "max_node_executions=2" in message


@pytest.mark.parametrize(("node_type", "phrase"), [
    ("reduce", "reduce node requires array input"),
    ("map", "map node requires array input"),
])
def test_array_nodes_refuse_scalars_in_thaiyyals_words(node_type, phrase):
    data = {"expression": "item"}
    result = run([node("n", "text_input", text="x"), node("a", node_type, **data)],
                 [edge("n", "a")])
    assert phrase in result.errors[0]


@pytest.mark.parametrize(("seconds", "text"), [
    (0.1, "100ms"), (1.5, "1.5s"), (30, "30s"), (60, "1m0s"), (300, "5m0s"),
    (5400, "1h30m0s"), (0.0015, "1.5ms"), (0, "0s"),
])
def test_durations_are_written_as_go_prints_them(seconds, text):
    assert go_duration(seconds) == text


#: Thaiyyal's message for each node type run without an input (backend/pkg/executor)
NO_INPUT = [
    ("chunk", {"size": 2}, "chunk node needs at least 1 input"),
    ("condition", {"condition": ">1"}, "condition node needs at least 1 input"),
    ("filter", {"condition": "item>1"}, "filter node needs at least 1 input"),
    ("find", {"condition": "item>1"}, "find node needs at least 1 input"),
    ("flat_map", {}, "flat_map node needs at least 1 input"),
    ("for_each", {}, "for_each node needs at least 1 input"),
    ("group_by", {"field": "a"}, "group_by node needs at least 1 input"),
    ("map", {"expression": "item"}, "map node needs at least 1 input"),
    ("partition", {"condition": "item>1"}, "partition node needs at least 1 input"),
    ("reduce", {"expression": "item"}, "reduce node needs at least 1 input"),
    ("reverse", {}, "reverse node needs at least 1 input"),
    ("sample", {"count": 1}, "sample node needs at least 1 input"),
    ("slice", {}, "slice node needs at least 1 input"),
    ("sort", {}, "sort node needs at least 1 input"),
    ("switch", {"cases": [{"is_default": True}]}, "switch node requires at least one input"),
    ("transpose", {}, "transpose node needs at least 1 input"),
    ("unique", {}, "unique node needs at least 1 input"),
    ("while_loop", {"condition": "input<1"}, "while_loop node needs at least 1 input"),
    ("compact", {}, "compact node needs at least 1 input"),
    ("extract", {"field": "a"}, "extract node requires input"),
    ("format", {"output_type": "JSON"}, "format node requires input"),
    ("parse", {}, "parse node requires input"),
    ("text_operation", {"text_op": "uppercase"}, "text operation needs at least 1 input"),
    ("retry", {}, "retry node requires at least one input"),
    ("timeout", {"timeout": "1s"}, "timeout node requires at least one input"),
    ("try_catch", {}, "try-catch node requires at least one input"),
    ("variable", {"var_name": "x", "var_op": "set"},
     "variable set operation requires input value"),
    ("transform", {"transform_type": "keys"}, "transform node requires input"),
    ("visualization", {"mode": "text"}, "visualization needs at least 1 input"),
]


@pytest.mark.parametrize(("node_type", "data", "phrase"), NO_INPUT,
                         ids=[case[0] for case in NO_INPUT])
def test_a_node_without_input_fails_in_thaiyyals_words(node_type, data, phrase):
    result = run([node("n", node_type, **data)])
    assert result.errors == [f"error executing node n: {phrase}"]
