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


@pytest.mark.parametrize("extracts", [2, 3])
@pytest.mark.parametrize(("score", "expected"), [(91, "A"), (89, "F"), (90, "A")])
def test_chain_of_extract_nodes_feeding_a_condition_takes_the_right_branch(extracts, score,
                                                                            expected):
    # parse -> extract score -> extract value (-> extract value) -> condition. An extract
    # of `value` from an extract's {field, value} gives {field: "value", value} again, so
    # the condition's input is {field, value: {value: {value: {value: score}}}} whatever
    # the chain's length: five `value`s deep
    doc = '{"score": ' + '{"value": ' * 4 + str(score) + "}" * 5
    fields = ["score"] + ["value"] * (extracts - 1)
    nodes = [node("t", "text_input", text=doc), node("p", "parse", input_type="JSON")]
    nodes += [node(f"x{i}", "extract", field=f) for i, f in enumerate(fields)]
    nodes += [node("c", "condition", condition=">=90"),
              node("pass", "text_input", text="A"), node("fail", "text_input", text="F")]
    chain = ["t", "p", *(f"x{i}" for i in range(extracts)), "c"]
    edges = [edge(a, b) for a, b in zip(chain, chain[1:], strict=False)]
    edges += [edge("c", "pass", "true"), edge("c", "fail", "false")]
    result = Workflow.load({"nodes": nodes, "edges": edges}).execute()
    assert result.errors == []
    assert result.node_results[f"x{extracts - 1}"] == {
        "field": fields[-1], "value": {"value": {"value": {"value": {"value": score}}}}}
    assert result.node_results["c"]["condition_met"] is (expected == "A")
    assert result.final_output == expected
    assert ("fail" if expected == "A" else "pass") not in result.node_results


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
