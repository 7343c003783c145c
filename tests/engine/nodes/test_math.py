"""`operation`: arithmetic on two numeric inputs in edge order."""

from __future__ import annotations

import math

import pytest

import engine


@pytest.mark.parametrize(("op", "left", "right", "expected"), [
    ("add", 2, 3, 5),
    ("add", 0.1, 0.2, 0.1 + 0.2),
    ("subtract", 2, 5, -3),
    ("multiply", 4, 2.5, 10.0),
    ("divide", 7, 2, 3.5),
    ("divide", 6, 3, 2),
    ("divide", 1.5, 0.5, 3.0),
    ("modulo", 7, 3, 1),
    ("modulo", -7, 3, -1),
    ("modulo", 7, -3, 1),
    ("modulo", 7.5, 2, 1.5),
    ("power", 2, 10, 1024),
    ("power", 2, -1, 0.5),
    ("power", 9, 0.5, 3.0),
    ("power", 1, 10**9, 1),
    ("power", -1, 10**9 + 1, -1),
    ("ADD", 1, 1, 2),
])
def test_operation_computes_on_two_inputs(run_node, op, left, right, expected):
    assert run_node("operation", {"op": op}, left, right) == expected


def test_integer_division_that_is_exact_stays_integral(run_node):
    result = run_node("operation", {"op": "divide"}, 6, 3)
    assert result == 2
    assert isinstance(result, int)


def test_inputs_are_used_in_edge_order(chain):
    payload = chain(("a", "number", {"value": 10}), ("b", "number", {"value": 4}),
                    ("op", "operation", {"op": "subtract"}),
                    edges=[{"source": "b", "target": "op"}, {"source": "a", "target": "op"}])
    assert engine.execute(payload).final_output == -6


@pytest.mark.parametrize(("op", "right", "message"), [
    ("divide", 0, "division by zero"),
    ("divide", 0.0, "division by zero"),
    ("modulo", 0, "modulo by zero"),
])
def test_division_by_zero_is_a_node_error(run_node, op, right, message):
    with pytest.raises(engine.NodeError, match=f"^{message}$"):
        run_node("operation", {"op": op}, 1, right)


@pytest.mark.parametrize("inputs", [(), (1,), (1, 2, 3)])
def test_operation_needs_exactly_two_inputs(run_node, inputs):
    with pytest.raises(engine.NodeError,
                       match=f"^operation needs 2 inputs, got {len(inputs)}$"):
        run_node("operation", {"op": "add"}, *inputs)


@pytest.mark.parametrize(("left", "right", "names"), [
    ("1", 2, "string and number"),
    (1, True, "number and boolean"),
    (None, [1], "null and array"),
    ({"value": 1}, 2, "object and number"),
])
def test_operation_inputs_must_be_numbers(run_node, left, right, names):
    with pytest.raises(engine.NodeError, match=f"^operation inputs must be numbers, got {names}$"):
        run_node("operation", {"op": "add"}, left, right)


def test_unknown_operation_is_a_node_error_naming_the_choices(run_node):
    with pytest.raises(engine.NodeError) as caught:
        run_node("operation", {"op": "sqrt"}, 1, 2)
    assert str(caught.value) == ("unknown operation: sqrt (expected one of add, subtract, "
                                 "multiply, divide, modulo, power)")


@pytest.mark.parametrize(("op", "left", "right", "message"), [
    ("power", 0, -1, "power: zero cannot be raised to a negative power"),
    ("power", -8, 1 / 3, "power: -8 ** 0.3333333333333333 is not a real number"),
    ("power", 10.0, 400, "power: result is too large"),
    ("power", 10, 10**9, "power: result is too large"),
    ("multiply", 1e308, 10, "multiply result is not a finite number"),
    ("divide", 10**400, 3, "divide result is too large"),
])
def test_results_that_are_not_finite_numbers_are_node_errors(run_node, op, left, right,
                                                               message):
    with pytest.raises(engine.NodeError) as caught:
        run_node("operation", {"op": op}, left, right)
    assert str(caught.value) == message


def test_big_integer_power_is_exact_up_to_1024_bits_then_floating(run_node):
    assert run_node("operation", {"op": "power"}, 2, 1000) == 2**1000
    beyond = run_node("operation", {"op": "power"}, 3, 600)
    assert isinstance(beyond, float)
    assert math.isclose(beyond, 3.0**600)


def test_missing_op_is_a_payload_error(load_problems):
    assert load_problems("operation", {}) == [
        {"path": "$.nodes[0].data.op", "message": "required (string)"}]


def test_failing_operation_fails_the_run_naming_the_node(chain):
    payload = chain(("a", "number", {"value": 1}), ("b", "number", {"value": 0}),
                    ("div", "operation", {"op": "divide"}),
                    edges=[{"source": "a", "target": "div"}, {"source": "b", "target": "div"}])
    result = engine.execute(payload)
    assert result.status == "failed"
    assert result.errors == ["error executing node div: division by zero"]
    assert result.node_results == {"a": 1, "b": 0}
