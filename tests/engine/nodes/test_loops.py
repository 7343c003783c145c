"""`for_each` and `while_loop`: Thaiyyal's counting envelopes, and our bodies."""

from __future__ import annotations

import time

import pytest

import engine
from engine.state import NodeContext, Run

UPPERCASE_BODY = {"nodes": [{"id": "up", "type": "text_operation",
                             "data": {"text_op": "uppercase"}}], "edges": []}


# -- for_each ---------------------------------------------------------------------------------
def test_for_each_without_body_counts_items(run_node):
    assert run_node("for_each", {}, [1, 2, 3]) == {
        "input_count": 3, "iterations": 3, "successful": 3, "failed": 0}


def test_for_each_over_an_empty_array_counts_nothing(run_node):
    assert run_node("for_each", {}, []) == {
        "input_count": 0, "iterations": 0, "successful": 0, "failed": 0}


def test_for_each_with_body_collects_each_body_output(run_node):
    result = run_node("for_each", {"body": UPPERCASE_BODY}, ["a", "b", "c"])
    assert result == {"input_count": 3, "iterations": 3, "successful": 3, "failed": 0,
                      "results": ["A", "B", "C"]}


def test_for_each_counts_failing_iterations_and_goes_on(run_node):
    result = run_node("for_each", {"body": UPPERCASE_BODY}, ["a", 2, "c"])
    assert result == {
        "input_count": 3, "iterations": 3, "successful": 2, "failed": 1,
        "results": ["A", None, "C"],
        "errors": [{"index": 1, "error": "body failed at node 'up': text operation input "
                                        "must be text/string"}],
    }


def test_for_each_needs_an_input(run_node):
    with pytest.raises(engine.NodeError, match="^for_each node needs at least 1 input$"):
        run_node("for_each", {})


@pytest.mark.parametrize(("value", "name"), [("abc", "string"), ({"items": [1]}, "object"),
                                             (None, "null")])
def test_for_each_needs_an_array(run_node, value, name):
    with pytest.raises(engine.NodeError,
                       match=f"^for_each node requires array input, got {name}$"):
        run_node("for_each", {}, value)


def test_for_each_over_more_items_than_max_iterations_fails(run_node):
    with pytest.raises(engine.NodeError) as caught:
        run_node("for_each", {"max_iterations": 3}, [1, 2, 3, 4, 5])
    assert str(caught.value) == "for_each exceeds max iterations: 5 > 3"


def test_for_each_max_iterations_of_zero_means_the_default(run_node):
    assert run_node("for_each", {"max_iterations": 0}, [1] * 1000)["iterations"] == 1000
    with pytest.raises(engine.NodeError, match=r"^for_each exceeds max iterations: 1001 > 1000$"):
        run_node("for_each", {"max_iterations": 0}, [1] * 1001)


def test_for_each_is_capped_by_the_run_loop_limit(run_node):
    limits = engine.Limits(max_loop_iterations=4)
    with pytest.raises(engine.LimitExceeded) as caught:
        run_node("for_each", {}, [1, 2, 3, 4, 5], limits=limits)
    assert caught.value.limit == "max_loop_iterations"
    assert str(caught.value) == "limit max_loop_iterations=4 exceeded: for_each over 5 items"


def test_for_each_checks_the_deadline_between_iterations(load_node):
    node = load_node("for_each", {"body": UPPERCASE_BODY})
    run = Run("test", engine.Limits(max_execution_time=1), {}, None, None)
    run.deadline = time.monotonic() - 1
    with pytest.raises(engine.LimitExceeded, match="max_execution_time"):
        node.run([["a", "b"]], NodeContext(run, node.id))


def test_for_each_body_errors_are_payload_errors_with_their_path(load_problems):
    body = {"nodes": [{"id": "x", "type": "nope", "data": {}}], "edges": []}
    assert load_problems("for_each", {"body": body}) == [
        {"path": "$.nodes[0].data.body.nodes[0].type", "message": "unknown node type 'nope'"}]
