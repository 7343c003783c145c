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


def test_for_each_takes_the_array_inside_an_upstream_envelope(run_node):
    assert run_node("for_each", {}, {"range": [1, 2], "count": 2})["iterations"] == 2


@pytest.mark.parametrize(("value", "name"), [("abc", "string"), ({"items": 1}, "object"),
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
    assert str(caught.value) == ("maximum iterations exceeded "
                                 "(limit max_loop_iterations=4 exceeded): "
                                 "for_each over 5 items")


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


def test_for_each_body_runs_per_item_end_to_end():
    payload = {
        "nodes": [
            {"id": "src", "type": "expression", "data": {"expression": "[1, 2, 3]"}},
            {"id": "each", "type": "for_each", "data": {"body": {
                "nodes": [{"id": "sq", "type": "expression",
                           "data": {"expression": "input * input"}}],
                "edges": []}}},
        ],
        "edges": [{"source": "src", "target": "each"}],
    }
    result = engine.execute(payload)
    assert result.final_output == {"input_count": 3, "iterations": 3, "successful": 3,
                                   "failed": 0, "results": [1, 4, 9]}


# -- while_loop -------------------------------------------------------------------------------
DOUBLE_BODY = {"nodes": [{"id": "x2", "type": "expression", "data": {"expression": "input * 2"}}],
               "edges": []}


def test_while_loop_without_body_and_false_condition_returns_its_input(run_node):
    assert run_node("while_loop", {"condition": "input > 10"}, 3) == {
        "final_value": 3, "iterations": 0, "condition": "input > 10"}


def test_while_loop_without_body_and_true_condition_exceeds_max_iterations(run_node):
    with pytest.raises(engine.NodeError, match="^while_loop exceeded max iterations: 100$"):
        run_node("while_loop", {"condition": "input < 10"}, 3)
    with pytest.raises(engine.NodeError, match="^while_loop exceeded max iterations: 7$"):
        run_node("while_loop", {"condition": "input < 10", "max_iterations": 7}, 3)


def test_while_loop_body_runs_until_the_condition_is_false(run_node):
    assert run_node("while_loop", {"condition": "input < 10", "body": DOUBLE_BODY}, 1) == {
        "final_value": 16, "iterations": 4, "condition": "input < 10"}


def test_while_loop_may_use_all_its_iterations(run_node):
    data = {"condition": "input < 8", "body": DOUBLE_BODY, "max_iterations": 3}
    assert run_node("while_loop", data, 1)["iterations"] == 3


def test_while_loop_body_past_max_iterations_fails(run_node):
    data = {"condition": "input < 1000", "body": DOUBLE_BODY, "max_iterations": 3}
    with pytest.raises(engine.NodeError, match="^while_loop exceeded max iterations: 3$"):
        run_node("while_loop", data, 1)


def test_while_loop_is_capped_by_the_run_loop_limit(run_node):
    limits = engine.Limits(max_loop_iterations=2)
    data = {"condition": "input < 1000", "body": DOUBLE_BODY}
    with pytest.raises(engine.LimitExceeded) as caught:
        run_node("while_loop", data, 1, limits=limits)
    assert caught.value.limit == "max_loop_iterations"
    assert str(caught.value) == ("maximum iterations exceeded "
                                 "(limit max_loop_iterations=2 exceeded): "
                                 "while_loop condition "
                                 "still true after 2 iterations")


def test_while_loop_without_body_is_capped_by_the_run_loop_limit(run_node):
    limits = engine.Limits(max_loop_iterations=50)
    with pytest.raises(engine.LimitExceeded) as caught:
        run_node("while_loop", {"condition": "true", "max_iterations": 500}, 1, limits=limits)
    assert str(caught.value) == ("maximum iterations exceeded "
                                 "(limit max_loop_iterations=50 exceeded): "
                                 "while_loop has no "
                                 "body and its condition is true")


def test_while_loop_body_failure_fails_the_node(run_node):
    body = {"nodes": [{"id": "up", "type": "text_operation", "data": {"text_op": "uppercase"}}],
            "edges": []}
    with pytest.raises(engine.NodeError) as caught:
        run_node("while_loop", {"condition": "input < 10", "body": body}, 1)
    assert str(caught.value) == "body failed at node 'up': text operation input must be text/string"


def test_while_loop_condition_that_fails_to_evaluate_fails_the_node(run_node):
    with pytest.raises(engine.ExpressionError):
        run_node("while_loop", {"condition": "input.toUpperCase() == 'A'"}, 1)


def test_while_loop_needs_an_input(run_node):
    with pytest.raises(engine.NodeError, match="^while_loop node needs at least 1 input$"):
        run_node("while_loop", {"condition": "true"})


def test_while_loop_condition_is_required(load_problems):
    assert load_problems("while_loop", {}) == [
        {"path": "$.nodes[0].data.condition", "message": "required (expression)"}]


def test_while_loop_checks_the_deadline_every_iteration(load_node):
    node = load_node("while_loop", {"condition": "input < 10", "body": DOUBLE_BODY})
    run = Run("test", engine.Limits(max_execution_time=1), {}, None, None)
    run.deadline = time.monotonic() - 1
    with pytest.raises(engine.LimitExceeded, match="max_execution_time"):
        node.run([1], NodeContext(run, node.id))


def test_while_loop_body_end_to_end():
    payload = {
        "nodes": [{"id": "n", "type": "number", "data": {"value": 1}},
                  {"id": "w", "type": "while_loop",
                   "data": {"condition": "input < 10", "body": DOUBLE_BODY}}],
        "edges": [{"source": "n", "target": "w"}],
    }
    result = engine.execute(payload)
    assert result.final_output == {"final_value": 16, "iterations": 4,
                                   "condition": "input < 10"}
