"""engine/nodes/values.py: the one dotted-path lookup and the one JSON-equality rule every
node and expression uses, with Thaiyyal's semantics."""

from __future__ import annotations

import json

import pytest

from engine import Workflow
from engine.nodes.values import MISSING, json_equal, json_key, lookup_path
from tests.engine.payloads import edge, node

DOC = {"user": {"tags": ["a", "b"], "rows": [{"id": 7}, {"id": 8}]}, "m": [[1, 2], [3, 4]]}


@pytest.mark.parametrize(("path", "expected"), [
    ("user.tags[1]", "b"),
    ("user.rows[1].id", 8),
    ("user.rows.0.id", 7),           # ours too: a number indexes an array
    ("m[1][0]", 3),
    ("", DOC),
])
def test_lookup_path_reads_thaiyyals_paths(path, expected):
    assert lookup_path(DOC, path) == expected


@pytest.mark.parametrize("path", ["user.tags[2]", "user.tags.-1", "user.tags[-1]",
                                  "user.name", "user.tags.x", "m[0][5]"])
def test_lookup_path_refuses_what_leads_nowhere_negative_indexes_included(path):
    assert lookup_path(DOC, path) is MISSING


def test_extract_and_http_share_the_path_rule():
    result = Workflow.load({
        "nodes": [node("t", "text_input", text='{"a": {"b": [10, 20]}}'),
                  node("p", "parse", input_type="JSON"),
                  node("x", "extract", fields=["a.b[1]", "a.b.-1"])],
        "edges": [edge("t", "p"), edge("p", "x")],
    }).execute()
    assert result.node_results["x"] == {"a.b[1]": 20}


@pytest.mark.parametrize(("left", "right", "equal"), [
    (1, 1.0, True), (5, "5", True), ("5", 5.0, True), ("a", "a", True),
    (True, 1, False), (None, 0, False), (None, None, True), ("5", "5.0", False),
    ([1, {"a": "2"}], [1.0, {"a": 2}], True), ({"a": 1}, {"a": 1, "b": 2}, False),
    ([1, 2], [2, 1], False),
])
def test_json_equal_is_thaiyyals_equality(left, right, equal):
    assert json_equal(left, right) is equal
    assert json_equal(right, left) is equal
    if equal:
        assert json_key(left) == json_key(right)


SWITCH_PAIRS = [
    (10, "10", True), ("5", 5.0, True), (1, 1.0, True), (True, 1, False), (None, 0, False),
    ("5", "5.0", False), ([1, {"a": "2"}], [1.0, {"a": 2}], True), ({"a": 1}, {"a": 2}, False),
]


@pytest.mark.parametrize(("when", "value", "equal"), SWITCH_PAIRS)
def test_switch_matches_values_by_the_same_rule_as_eq(when, value, equal):
    """A switch case that matches a value (a literal `when`, Thaiyyal's older `value`, or a
    `when` expression with no boolean result) agrees with `==` in an expression."""
    cases = [{"when": "x", "value": when, "output_path": "older"}]
    if not isinstance(when, bool):  # a boolean result decides, it is not matched
        cases.append({"when": "node.pw", "output_path": "expression"})
    if not isinstance(when, str | None):  # a string `when` is an expression
        cases.append({"when": when, "output_path": "literal"})
    for case in cases:
        result = Workflow.load({"nodes": [
            node("w", "text_input", text=json.dumps(when)),
            node("pw", "parse", input_type="json"),
            node("v", "text_input", text=json.dumps(value)),
            node("pv", "parse", input_type="json"),
            node("s", "switch", cases=[case]),
            node("eq", "expression", expression="node.pw == node.pv"),
        ], "edges": [edge("w", "pw"), edge("v", "pv"), edge("pv", "s"), edge("pw", "s"),
                     edge("pw", "eq"), edge("pv", "eq")]}).execute()
        assert result.status == "succeeded", result.errors
        assert result.node_results["eq"] is equal  # the rule of `==` ...
        assert result.node_results["s"]["matched"] is equal, case  # ... is the switch's
        assert json_equal(when, value) is equal


def test_expressions_and_unique_use_the_same_rule():
    result = Workflow.load({"nodes": [
        node("e", "expression", expression="[5 == '5', true == 1, unique([1, '1', 1.0])]"),
    ]}).execute()
    assert result.final_output == [True, False, [1]]
