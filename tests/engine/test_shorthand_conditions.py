"""Shorthand conditions (`>=90`, `==5`) compare the input after unwrapping `value`
envelopes at every depth, as Thaiyyal's expression.Evaluate does: a chain of conditions or
extracts feeding a condition takes the branch the number says."""

from __future__ import annotations

import pytest

from engine import Workflow
from tests.engine.payloads import edge, node


def branch_taken(score, chain):
    nodes = [node("n", "number", value=score)]
    edges = []
    previous = "n"
    for i, condition in enumerate(chain):
        nodes.append(node(f"c{i}", "condition", condition=condition))
        edges.append(edge(previous, f"c{i}", "true" if i else None))
        previous = f"c{i}"
    nodes += [node("pass", "text_input", text="A"), node("fail", "text_input", text="F")]
    edges += [edge(previous, "pass", "true"), edge(previous, "fail", "false")]
    result = Workflow.load({"nodes": nodes, "edges": edges}).execute()
    assert result.errors == []
    return result.final_output


@pytest.mark.parametrize(("score", "expected"), [(95, "A"), (85, "F")])
def test_third_condition_in_a_chain_sees_the_number(score, expected):
    # c2's input is {value: {value: {value: score, ...}, ...}, ...}
    assert branch_taken(score, [">=0", ">=0", ">=90"]) == expected


@pytest.mark.parametrize("condition", ["==5", "!=4", ">4", "<6", "<=5", ">=5"])
def test_every_operator_unwraps_nested_values(condition):
    result = Workflow.load({
        "nodes": [node("t", "text_input", text='{"value": {"value": {"value": 5}}}'),
                  node("a", "parse", input_type="JSON"),
                  node("c", "condition", condition=condition)],
        "edges": [edge("t", "a"), edge("a", "c")],
    }).execute()
    assert result.node_results["c"]["condition_met"] is True


def test_extract_chain_feeding_a_condition():
    result = Workflow.load({
        "nodes": [node("t", "text_input", text='{"score": {"value": 91}}'),
                  node("a", "parse", input_type="JSON"),
                  node("x", "extract", field="score"),
                  node("c", "condition", condition=">=90")],
        "edges": [edge("t", "a"), edge("a", "x"), edge("x", "c")],
    }).execute()
    # extract returns {field: "score", value: {value: 91}}: two levels of `value`
    assert result.node_results["c"]["path"] == "true"


@pytest.mark.parametrize(("condition", "value", "met"), [
    (">100 && <200", 150, True),
    (">100 && <200", 250, False),
    (">100 || <50", 75, False),
    (">=18 && <65 || ==99", 99, True),
    ("input > 1 && <5", 3, True),
])
def test_each_side_of_and_or_may_be_a_shorthand(condition, value, met):
    # Thaiyyal's expression tests: `>100 && <200` compares the input on both sides
    result = Workflow.load({
        "nodes": [node("n", "number", value=value), node("c", "condition", condition=condition)],
        "edges": [edge("n", "c")],
    }).execute()
    assert result.node_results["c"]["condition_met"] is met
