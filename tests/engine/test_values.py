"""engine/nodes/values.py: the one dotted-path lookup and the one JSON-equality rule every
node and expression uses, with Thaiyyal's semantics."""

from __future__ import annotations

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


def test_expressions_and_unique_use_the_same_rule():
    result = Workflow.load({"nodes": [
        node("e", "expression", expression="[5 == '5', true == 1, unique([1, '1', 1.0])]"),
    ]}).execute()
    assert result.final_output == [True, False, [1]]
