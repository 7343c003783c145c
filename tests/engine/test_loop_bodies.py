"""Loop bodies see the current element: as their input at the root, and as
`variables.item` / `variables.index` anywhere inside (Thaiyyal's names)."""

from __future__ import annotations

from engine import execute


def for_each_over(items_expression: str, body: dict) -> dict:
    return {
        "nodes": [
            {"id": "src", "type": "expression", "data": {"expression": items_expression}},
            {"id": "loop", "type": "for_each", "data": {"body": body}},
        ],
        "edges": [{"source": "src", "target": "loop"}],
    }


def test_nodes_deep_in_a_body_read_item_and_index_from_variables():
    body = {
        "nodes": [
            {"id": "first", "type": "expression", "data": {"expression": "input * 10"}},
            {"id": "deep", "type": "expression",
             "data": {"expression": "input + variables.item + variables.index * 1000"}},
        ],
        "edges": [{"source": "first", "target": "deep"}],
    }
    result = execute(for_each_over("[1, 2, 3]", body))
    assert result.status == "succeeded", result.errors
    assert result.final_output["results"] == [11, 1022, 2033]


def test_loop_variables_do_not_leak_into_the_run_after_the_loop():
    payload = for_each_over("[5]", {"nodes": [
        {"id": "b", "type": "expression", "data": {"expression": "variables.item"}}]})
    payload["nodes"].append({"id": "after", "type": "expression",
                             "data": {"expression":
                                      "[isNull(variables.index), variables.item.results]"}})
    payload["edges"].append({"source": "loop", "target": "after"})
    result = execute(payload)
    assert result.node_results["loop"]["results"] == [5]
    # after the loop, variables.item is the node's own input again (Thaiyyal's rule), not 5
    assert result.final_output == [True, [5]]
