"""Workflow.load: every problem reported at once, each with a JSON path and a reason."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import Limits, PayloadError, Workflow


def problems(payload, limits=None):
    with pytest.raises(PayloadError) as info:
        Workflow.load(payload, limits)
    return {(p.path, p.message) for p in info.value.problems}


def paths(payload, limits=None):
    return {path for path, _ in problems(payload, limits)}


def test_accepts_dict_str_and_bytes_alike():
    doc = {"nodes": [{"id": "a", "type": "number", "data": {"value": 2}}]}
    for payload in (doc, json.dumps(doc), json.dumps(doc).encode()):
        assert Workflow.load(payload).execute().final_output == 2


def test_extra_keys_such_as_editor_positions_are_ignored():
    wf = Workflow.load({"nodes": [{"id": "a", "type": "number", "position": {"x": 1},
                                   "data": {"value": 1, "label": "x"}}], "viewport": {}})
    assert wf.execute().final_output == 1


def test_malformed_json_names_line_and_column():
    assert problems('{"nodes": [}') == {
        ("$", "malformed JSON: Expecting value at line 1 column 12")}


def test_non_utf8_bytes_are_a_payload_error():
    assert paths(b'\xff\xfe{"nodes": []}') == {"$"}


def test_reports_all_problems_at_once():
    found = paths({
        "nodes": [
            {"id": "a", "type": "number", "data": {"value": 1}},
            {"id": "a", "type": "number", "data": {"value": 2}},
            {"type": "number", "data": {"value": 3}},
            {"id": "b", "type": "warp_drive"},
            {"id": "c", "type": "number", "data": {"value": "lots"}},
            {"id": "d", "type": "number"},
        ],
        "edges": [{"source": "a", "target": "ghost"}, {"target": "a"}],
    })
    assert found == {
        "$.nodes[1].id", "$.nodes[2].id", "$.nodes[3].type", "$.nodes[4].data.value",
        "$.nodes[5].data.value", "$.edges[0].target", "$.edges[1].source",
    }


def test_duplicate_id_says_where_the_first_one_is():
    found = problems({"nodes": [{"id": "a", "type": "number", "data": {"value": 1}},
                                {"id": "a", "type": "number", "data": {"value": 2}}]})
    assert found == {("$.nodes[1].id", "duplicate id 'a' (also at $.nodes[0])")}


def test_cycle_names_its_nodes():
    found = problems({
        "nodes": [{"id": i, "type": "visualization", "data": {"mode": "text"}} for i in "abc"],
        "edges": [{"source": "a", "target": "b"}, {"source": "b", "target": "c"},
                  {"source": "c", "target": "a"}],
    })
    assert found == {
        ("$.edges", "workflow contains cycles (circular dependencies): a -> b -> c -> a")}


def test_self_loop_is_a_cycle():
    assert problems({"nodes": [{"id": "a", "type": "visualization", "data": {"mode": "x"}}],
                     "edges": [{"source": "a", "target": "a"}]}) == {
        ("$.edges", "workflow contains cycles (circular dependencies): a -> a")}


@pytest.mark.parametrize(("data", "inferred"), [
    ({"value": 3}, "number"),
    ({"text": "hi"}, "text_input"),
    ({"mode": "text"}, "visualization"),
    ({"op": "add"}, "operation"),
])
def test_missing_type_is_inferred_from_data_keys(data, inferred):
    wf = Workflow.load({"nodes": [{"id": "n", "data": data}]})
    assert wf.nodes[0].type_name == inferred


def test_type_that_cannot_be_inferred_is_reported():
    assert problems({"nodes": [{"id": "n", "data": {"colour": "red"}}]}) == {
        ("$.nodes[0].type", "required: cannot infer the node type from its data")}


def test_nodes_must_be_a_list_and_workflow_an_object():
    assert paths({"nodes": {"a": 1}}) == {"$.nodes"}
    assert paths([1, 2]) == {"$"}
    assert paths({}) == {"$.nodes"}


def test_node_and_edge_count_limits_name_the_limit():
    nodes = [{"id": f"n{i}", "type": "number", "data": {"value": i}} for i in range(6)]
    assert problems({"nodes": nodes}, Limits(max_nodes=5)) == {
        ("$.nodes", "6 nodes exceed limit max_nodes=5")}
    edges = [{"source": "n0", "target": f"n{i}"} for i in range(1, 6)]
    assert problems({"nodes": nodes, "edges": edges}, Limits(max_edges=4)) == {
        ("$.edges", "5 edges exceed limit max_edges=4")}


def test_payload_size_limit_names_the_limit():
    big = json.dumps({"nodes": [], "pad": "x" * 200})
    (path, message), = problems(big.encode(), Limits(max_payload_bytes=100))
    assert path == "$"
    assert "max_payload_bytes=100" in message


def test_retry_and_timeout_policies_are_validated_with_paths():
    found = paths({"nodes": [{"id": "a", "type": "number", "data": {
        "value": 1, "retry": {"max_attempts": 0, "backoff": "sometimes"}, "timeout": "soon"}}]})
    assert found == {"$.nodes[0].data.retry.max_attempts", "$.nodes[0].data.retry.backoff",
                     "$.nodes[0].data.timeout"}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(["id", "type", "data", "nodes", "edges", "source",
                                       "target", "sourceHandle", "value", "op", "text",
                                       "expression", "condition", "field", "cases", "url"])
                      | st.text(max_size=4), children, max_size=5),
    max_leaves=25,
)

node_types = st.sampled_from(["number", "operation", "text_input", "expression", "condition",
                              "filter", "map", "reduce", "switch", "extract", "transform",
                              "http", "for_each", "while_loop", "range", "sort", "nope", ""])

fuzz_nodes = st.fixed_dictionaries(
    {"id": st.sampled_from(["a", "b", "c", 1, None]), "type": node_types},
    optional={"data": json_values})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.fixed_dictionaries({"nodes": st.lists(fuzz_nodes, max_size=4)},
                             optional={"edges": json_values}))
def test_fuzzed_workflows_only_ever_raise_payload_error(doc):
    found: list = []
    try:
        Workflow.load(doc)
    except PayloadError as exc:
        found = exc.problems
        if not found:
            pytest.fail("PayloadError without problems")
    assert all(p.path.startswith("$") for p in found)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64) | st.text(max_size=64))
def test_fuzzed_raw_input_only_ever_raises_payload_error(raw):
    try:
        Workflow.load(raw)
    except PayloadError:
        pass


def test_deeply_nested_json_is_a_payload_error():
    with pytest.raises(PayloadError):
        Workflow.load("[" * 100_000 + "]" * 100_000)


def test_non_finite_numbers_are_not_numbers():
    # JSON's 1e400 decodes to infinity in Python
    assert paths('{"nodes": [{"id": "a", "type": "number", "data": {"value": 1e400}}]}') == {
        "$.nodes[0].data.value"}
