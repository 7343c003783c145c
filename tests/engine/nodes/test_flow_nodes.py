"""parallel, join and split: results, routing, and what the loader refuses."""

from __future__ import annotations

from engine import execute
from tests.engine.payloads import edge, node

# -- parallel ---------------------------------------------------------------------------

def test_parallel_passes_its_inputs_on_with_its_cap(run_node):
    assert run_node("parallel", {"max_concurrency": 2}, 7, 8) == {
        "results": [7, 8], "count": 2, "concurrency": 2}


def test_parallel_without_input_is_a_fan_out_root(run_node, load_node):
    assert run_node("parallel", {})["concurrency"] == 10
    assert load_node("parallel", {"max_concurrency": 3}).concurrency_cap() == 3


def test_parallel_refuses_a_cap_below_one(load_problems):
    problems = load_problems("parallel", {"max_concurrency": 0})
    assert problems == [{"path": "$.nodes[0].data.max_concurrency",
                         "message": "must be at least 1"}]


# -- join -------------------------------------------------------------------------------

def test_join_all_lists_every_branch_in_edge_order():
    result = execute({
        "nodes": [node("a", "number", value=1), node("b", "number", value=2),
                  node("j", "join", join_strategy="all")],
        "edges": [edge("b", "j"), edge("a", "j")],
    })
    assert result.final_output == {"strategy": "all", "values": [2, 1], "count": 2}


def test_join_default_strategy_is_all(run_node):
    assert run_node("join", {}, 1, 2) == {"strategy": "all", "values": [1, 2], "count": 2}


def test_join_any_and_first_take_one_value(run_node):
    assert run_node("join", {"join_strategy": "any"}, "x") == {
        "strategy": "any", "value": "x", "count": 1}
    assert run_node("join", {"join_strategy": "FIRST"}, "x") == {
        "strategy": "first", "value": "x"}


def test_only_any_and_first_joins_start_on_the_first_input(load_node):
    assert load_node("join", {"join_strategy": "all"}).wants_first_input is False
    assert load_node("join", {"join_strategy": "any"}).wants_first_input is True
    assert load_node("join", {"strategy": "first"}).wants_first_input is True


def test_join_refuses_an_unknown_strategy(load_problems):
    [problem] = load_problems("join", {"join_strategy": "most"})
    assert problem["path"] == "$.nodes[0].data.join_strategy"
    assert "all, any, first" in problem["message"]


# -- split ------------------------------------------------------------------------------

def test_split_copies_its_input_to_every_named_path(run_node):
    assert run_node("split", {"paths": ["left", "right"]}, 5) == {
        "value": 5, "paths": ["left", "right"], "outputs": {"left": 5, "right": 5}}


def test_split_defaults_to_two_paths(run_node):
    assert run_node("split", {}, 1)["paths"] == ["path1", "path2"]


def test_split_fires_edges_whose_handle_names_a_path_only():
    result = execute({
        "nodes": [node("n", "number", value=3), node("s", "split", paths=["a", "b"]),
                  node("to_a", "visualization", mode="text"),
                  node("to_b", "visualization", mode="text"),
                  node("to_c", "visualization", mode="text")],
        "edges": [edge("n", "s"), edge("s", "to_a", "a"), edge("s", "to_b", "b"),
                  edge("s", "to_c", "c")],
    })
    status = {n.id: n.status for n in result.nodes}
    assert status == {"n": "succeeded", "s": "succeeded", "to_a": "succeeded",
                      "to_b": "succeeded", "to_c": "skipped"}
    assert result.node_results["to_a"]["value"] == 3


def test_split_refuses_malformed_and_duplicate_paths(load_problems):
    problems = load_problems("split", {"paths": ["a", "a", 3, {"condition": "true"}]})
    assert problems == [
        {"path": "$.nodes[0].data.paths[1]", "message": "duplicate path 'a'"},
        {"path": "$.nodes[0].data.paths[2]",
         "message": "must be a path name or {\"name\", \"condition\"}"},
        {"path": "$.nodes[0].data.paths[3]",
         "message": "must be a path name or {\"name\", \"condition\"}"},
    ]


def test_split_with_conditions_routes_like_a_switch_that_can_pick_several():
    paths = [{"name": "big", "condition": "input > 10"},
             {"name": "even", "condition": "input % 2 == 0"},
             {"name": "negative", "when": "input < 0"}, "always"]
    result = execute({
        "nodes": [node("n", "number", value=12), node("s", "split", paths=paths)]
        + [node(f"to_{p}", "visualization", mode="text")
           for p in ("big", "even", "negative", "always")],
        "edges": [edge("n", "s")] + [edge("s", f"to_{p}", p)
                                     for p in ("big", "even", "negative", "always")],
    })
    assert result.node_results["s"]["outputs"] == {"big": 12, "even": 12, "always": 12}
    status = {n.id: n.status for n in result.nodes}
    assert status["to_negative"] == "skipped"
    assert status["to_big"] == status["to_even"] == status["to_always"] == "succeeded"


def test_split_condition_that_cannot_be_evaluated_means_not_this_path(run_node):
    paths = [{"name": "named", "condition": "input.name.length > 0"}]
    assert run_node("split", {"paths": paths}, 5)["outputs"] == {}


def test_split_reports_a_condition_syntax_error_with_its_path(load_problems):
    [problem] = load_problems("split", {"paths": ["ok", {"name": "x", "condition": "1 +"}]})
    assert problem["path"] == "$.nodes[0].data.paths[1].condition"
    assert problem["message"].startswith("expression syntax error at column")
