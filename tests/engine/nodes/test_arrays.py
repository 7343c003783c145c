"""Array nodes: Thaiyyal's envelopes, the non-array envelope, configuration errors, limits."""

from __future__ import annotations

import pytest

import engine
from engine import Limits

PEOPLE = [
    {"name": "Ada", "team": "red", "score": 30},
    {"name": "Bo", "team": "blue", "score": 10},
    {"name": "Cy", "team": "red", "score": 20},
]

ARRAY_NODES = [
    ("slice", {}), ("sort", {}), ("find", {"condition": "true"}), ("flat_map", {}),
    ("group_by", {"field": "team"}), ("unique", {}), ("chunk", {}), ("reverse", {}),
    ("partition", {"condition": "true"}), ("sample", {}), ("compact", {}), ("transpose", {}),
]


@pytest.mark.parametrize(("node_type", "data"), ARRAY_NODES)
@pytest.mark.parametrize(("value", "type_name"), [
    ("text", "string"), (42, "number"), (None, "null"), ({"a": [1]}, "object"),
])
def test_array_node_reports_a_non_array_input_in_its_result(run_node, node_type, data, value,
                                                            type_name):
    assert run_node(node_type, data, value) == {
        "error": "input is not an array", "input": value, "original_type": type_name}


@pytest.mark.parametrize(("node_type", "data"), ARRAY_NODES)
def test_array_node_needs_an_input(run_node, node_type, data):
    with pytest.raises(engine.NodeError, match=f"^{node_type} node needs at least 1 input$"):
        run_node(node_type, data)


@pytest.mark.parametrize(("node_type", "data", "key"), [
    ("reverse", {}, "reversed"), ("slice", {"start": 1}, "sliced"), ("sort", {}, "sorted"),
])
def test_array_node_takes_the_array_inside_an_upstream_envelope(run_node, node_type, data, key):
    assert run_node(node_type, data, {"range": [3, 1, 2], "count": 3})[key] == {
        "reversed": [2, 1, 3], "sliced": [1, 2], "sorted": [1, 2, 3]}[key]


# -- slice ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("data", "sliced", "start", "end"), [
    ({}, [0, 1, 2, 3, 4], 0, 5),
    ({"start": 1, "end": 3}, [1, 2], 1, 3),
    ({"start": 1, "length": 2}, [1, 2], 1, 3),
    ({"start": -2}, [3, 4], 3, 5),
    ({"end": -1}, [0, 1, 2, 3], 0, 4),
    ({"start": 4, "end": 2}, [], 2, 2),
    ({"start": 10}, [], 5, 5),
    ({"start": -10, "end": 2.9}, [0, 1], 0, 2),
])
def test_slice_cuts_the_array(run_node, data, sliced, start, end):
    assert run_node("slice", data, [0, 1, 2, 3, 4]) == {
        "sliced": sliced, "input_count": 5, "output_count": len(sliced), "start": start,
        "end": end}


def test_slice_end_wins_over_length(run_node):
    assert run_node("slice", {"end": 1, "length": 3}, [0, 1, 2])["sliced"] == [0]


def test_slice_rejects_a_non_numeric_start(load_problems):
    assert load_problems("slice", {"start": "first"}) == [
        {"path": "$.nodes[0].data.start", "message": "must be a number, got string"}]


# -- sort -------------------------------------------------------------------------------------
def test_sort_orders_values_ascending_by_default(run_node):
    assert run_node("sort", {}, [3, 1.5, 2]) == {
        "sorted": [1.5, 2, 3], "count": 3, "field": "", "order": "asc"}


def test_sort_by_field_descending(run_node):
    result = run_node("sort", {"field": "score", "order": "DESC"}, PEOPLE)
    assert [p["name"] for p in result["sorted"]] == ["Ada", "Cy", "Bo"]
    assert (result["field"], result["order"], result["count"]) == ("score", "desc", 3)


def test_sort_puts_nulls_and_missing_fields_first(run_node):
    items = [{"n": 2}, {"x": 1}, {"n": None}, {"n": 1}]
    assert run_node("sort", {"field": "n"}, items)["sorted"] == [
        {"x": 1}, {"n": None}, {"n": 1}, {"n": 2}]


def test_sort_is_stable_in_both_orders(run_node):
    items = [{"k": 1, "i": 0}, {"k": 0, "i": 1}, {"k": 1, "i": 2}]
    asc = run_node("sort", {"field": "k"}, items)["sorted"]
    desc = run_node("sort", {"field": "k", "order": "desc"}, items)["sorted"]
    assert [x["i"] for x in asc] == [1, 0, 2]
    assert [x["i"] for x in desc] == [0, 2, 1]


def test_sort_compares_strings_and_booleans_among_themselves(run_node):
    assert run_node("sort", {}, ["b", "a", "c"])["sorted"] == ["a", "b", "c"]
    assert run_node("sort", {}, [True, False])["sorted"] == [False, True]


def test_sort_orders_mixed_types_null_numbers_strings_booleans_then_the_rest(run_node):
    assert run_node("sort", {}, [{"k": 1}, "b", 10, True, None, "1", [2], 2.5])["sorted"] == \
        [None, 2.5, 10, "1", "b", True, [2], {"k": 1}]
    assert run_node("sort", {"order": "desc"}, ["b", 10, None])["sorted"] == ["b", 10, None]


def test_sort_rejects_an_unknown_order(load_problems):
    assert load_problems("sort", {"order": "up"}) == [
        {"path": "$.nodes[0].data.order",
         "message": "sort order must be 'asc' or 'desc', got 'up' (must be one of asc, desc)"}]


# -- find -------------------------------------------------------------------------------------
def test_find_returns_the_first_match(run_node):
    assert run_node("find", {"condition": "item.score < 25"}, PEOPLE) == {
        "found": PEOPLE[1], "condition": "item.score < 25"}


def test_find_returns_the_index_when_asked(run_node):
    assert run_node("find", {"condition": "item.team == 'red'", "return_index": True},
                    PEOPLE[1:]) == {"found": PEOPLE[2], "index": 1,
                                    "condition": "item.team == 'red'"}


def test_find_reports_no_match(run_node):
    assert run_node("find", {"condition": "item > 10"}, [1, 2]) == {
        "found": None, "not_found": True, "condition": "item > 10", "input_count": 2}


def test_find_treats_an_item_whose_condition_fails_as_no_match(run_node):
    result = run_node("find", {"condition": "item.toUpperCase() == 'B'"}, [1, "a", "b"])
    assert result == {"found": "b", "condition": "item.toUpperCase() == 'B'"}


def test_find_condition_sees_index_and_variables_end_to_end():
    payload = {
        "nodes": [
            {"id": "one", "type": "number", "data": {"value": 1}},
            {"id": "v", "type": "variable", "data": {"var_name": "wanted", "var_op": "set"}},
            {"id": "arr", "type": "expression", "data": {"expression": "['a', 'b', 'c']"}},
            {"id": "f", "type": "find", "data": {"condition": "index == variables.wanted",
                                                 "return_index": True}},
        ],
        # edge order: the array first (find reads its first input), the variable second
        "edges": [{"source": "one", "target": "v"}, {"source": "arr", "target": "f"},
                  {"source": "v", "target": "f"}],
    }
    assert engine.execute(payload).node_results["f"] == {
        "found": "b", "index": 1, "condition": "index == variables.wanted"}


def test_find_condition_is_required(load_problems):
    assert load_problems("find", {}) == [
        {"path": "$.nodes[0].data.condition", "message": "required (expression)"}]


# -- flat_map ---------------------------------------------------------------------------------
def test_flat_map_flattens_one_level(run_node):
    assert run_node("flat_map", {}, [[1, 2], 3, [[4]]]) == {
        "flattened": [1, 2, 3, [4]], "input_count": 3, "output_count": 4, "field": ""}


def test_flat_map_expands_a_field_and_skips_what_lacks_it(run_node):
    items = [{"tags": ["a", "b"]}, {"tags": "c"}, {"other": 1}, "not an object", {"tags": []}]
    assert run_node("flat_map", {"field": "tags"}, items) == {
        "flattened": ["a", "b", "c"], "input_count": 5, "output_count": 3, "field": "tags"}


def test_flat_map_dot_field_means_the_item_itself(run_node):
    assert run_node("flat_map", {"field": "."}, [[1], [2]])["flattened"] == [1, 2]


def test_flat_map_result_respects_max_array_length(run_node):
    with pytest.raises(engine.LimitExceeded, match="max_array_length=5"):
        run_node("flat_map", {}, [[1, 2, 3], [4, 5, 6]], limits=Limits(max_array_length=5))


# -- group_by ---------------------------------------------------------------------------------
def test_group_by_counts_by_default(run_node):
    assert run_node("group_by", {"field": "team"}, PEOPLE) == {
        "groups": {"red": [PEOPLE[0], PEOPLE[2]], "blue": [PEOPLE[1]]},
        "group_count": 2, "input_count": 3, "field": "team", "aggregate": "count",
        "counts": {"red": 2, "blue": 1}}


@pytest.mark.parametrize(("aggregate", "key", "expected"), [
    ("sum", "sums", {"red": 50, "blue": 10}),
    ("avg", "averages", {"red": 25.0, "blue": 10.0}),
    ("min", "minimums", {"red": 20, "blue": 10}),
    ("max", "maximums", {"red": 30, "blue": 10}),
])
def test_group_by_aggregates_a_value_field(run_node, aggregate, key, expected):
    data = {"field": "team", "aggregate": aggregate, "value_field": "score"}
    result = run_node("group_by", data, PEOPLE)
    assert result[key] == expected
    assert result["aggregate"] == aggregate


def test_group_by_values_lists_each_group(run_node):
    result = run_node("group_by", {"field": "team", "aggregate": "values"}, PEOPLE)
    assert result["values"] == {"red": [PEOPLE[0], PEOPLE[2]], "blue": [PEOPLE[1]]}


def test_group_by_ignores_non_numbers_when_aggregating(run_node):
    items = [{"g": "a", "v": "7"}, {"g": "a", "v": True}, {"g": "b", "v": 2}]
    data = {"field": "g", "value_field": "v"}
    assert run_node("group_by", {**data, "aggregate": "sum"}, items)["sums"] == {"a": 0, "b": 2}
    assert run_node("group_by", {**data, "aggregate": "avg"}, items)["averages"] == \
        {"a": 0, "b": 2.0}
    assert run_node("group_by", {**data, "aggregate": "min"}, items)["minimums"] == \
        {"a": None, "b": 2}


def test_group_by_names_groups_by_the_value_text(run_node):
    items = [{"k": 1}, {"k": 1.0}, {"k": True}, {"k": None}, {"z": 0}, "loose", 2.5]
    assert run_node("group_by", {"field": "k"}, items)["counts"] == {
        "1": 2, "true": 1, "<nil>": 1, "<missing>": 1, "loose": 1, "2.5": 1}


@pytest.mark.parametrize(("data", "path", "message"), [
    ({}, "field", "required (string)"),
    ({"field": ""}, "field", "group_by node requires non-empty 'field'"),
    ({"field": "g", "aggregate": "sum"}, "value_field",
     "group_by with 'sum' aggregate requires 'value_field'"),
    ({"field": "g", "aggregate": "median"}, "aggregate",
     "unknown aggregate function: median (must be one of count, sum, avg, min, max, values)"),
])
def test_group_by_configuration_problems(load_problems, data, path, message):
    assert load_problems("group_by", data) == [
        {"path": f"$.nodes[0].data.{path}", "message": message}]


# -- unique -----------------------------------------------------------------------------------
def test_unique_keeps_first_occurrences(run_node):
    # Thaiyyal's equality: 1, 1.0 and "1" are the same value; true is not 1
    assert run_node("unique", {}, [1, 2, 1.0, "1", True, [1], ["1"], {"a": 1}, {"a": 1}]) == {
        "unique": [1, 2, True, [1], {"a": 1}], "input_count": 9, "output_count": 5,
        "removed": 4}


def test_unique_by_field_keeps_objects_missing_it(run_node):
    items = [{"id": 1, "v": "a"}, {"id": 1, "v": "b"}, {"v": "c"}, {"v": "d"}, 7, 7]
    assert run_node("unique", {"field": "id"}, items) == {
        "unique": [{"id": 1, "v": "a"}, {"v": "c"}, {"v": "d"}, 7], "input_count": 6,
        "output_count": 4, "removed": 2}


# -- chunk ------------------------------------------------------------------------------------
def test_chunk_splits_into_fixed_sizes(run_node):
    assert run_node("chunk", {"size": 2}, [1, 2, 3, 4, 5]) == {
        "chunks": [[1, 2], [3, 4], [5]], "input_count": 5, "chunk_count": 3, "chunk_size": 2}


def test_chunk_size_defaults_to_ten(run_node):
    result = run_node("chunk", {}, list(range(25)))
    assert (result["chunk_count"], result["chunk_size"]) == (3, 10)


def test_chunk_of_an_empty_array_has_no_chunks(run_node):
    assert run_node("chunk", {"size": 3}, [])["chunks"] == []


def test_chunk_size_must_be_positive(load_problems):
    assert load_problems("chunk", {"size": 0}) == [
        {"path": "$.nodes[0].data.size", "message": "chunk size must be greater than 0, got 0"}]


# -- reverse ----------------------------------------------------------------------------------
def test_reverse_reverses(run_node):
    assert run_node("reverse", {}, [1, "b", None]) == {"reversed": [None, "b", 1], "count": 3}


# -- partition --------------------------------------------------------------------------------
def test_partition_splits_by_the_condition(run_node):
    assert run_node("partition", {"condition": "item % 2 == 0"}, [1, 2, 3, 4, 5]) == {
        "passed": [2, 4], "failed": [1, 3, 5], "passed_count": 2, "failed_count": 3,
        "input_count": 5, "condition": "item % 2 == 0"}


def test_partition_puts_items_whose_condition_fails_in_failed(run_node):
    result = run_node("partition", {"condition": "item.length > 1"}, ["ab", 3, "c"])
    assert (result["passed"], result["failed"]) == (["ab"], [3, "c"])


def test_partition_accepts_the_shorthand_comparison(run_node):
    assert run_node("partition", {"condition": ">=18"}, [12, 18, 40])["passed"] == [18, 40]


def test_partition_condition_syntax_error_is_a_payload_problem(load_problems):
    [problem] = load_problems("partition", {"condition": "item >"})
    assert problem["path"] == "$.nodes[0].data.condition"
    assert "column" in problem["message"]


# -- zip --------------------------------------------------------------------------------------
def test_zip_pairs_the_input_with_configured_arrays(run_node):
    assert run_node("zip", {"arrays": [["a", "b", "c"]]}, [1, 2]) == {
        "zipped": [[1, "a"], [2, "b"], [None, "c"]], "array_count": 2, "tuple_count": 3,
        "max_length": 3}


def test_zip_pads_with_fill_missing(run_node):
    assert run_node("zip", {"arrays": [[1]], "fill_missing": 0}, [1, 2])["zipped"] == \
        [[1, 1], [2, 0]]


def test_zip_takes_every_array_input_in_edge_order(run_node):
    assert run_node("zip", {}, [1, 2], "ignored", {"filtered": ["x", "y"]})["zipped"] == \
        [[1, "x"], [2, "y"]]


def test_zip_needs_an_array(run_node):
    with pytest.raises(engine.NodeError, match="^zip node requires at least one array$"):
        run_node("zip", {}, "not an array")


def test_zip_arrays_must_hold_arrays(load_problems):
    assert load_problems("zip", {"arrays": [[1], "node-id"]}) == [
        {"path": "$.nodes[0].data.arrays", "message": "arrays[1] must be an array, got string"}]


# -- sample -----------------------------------------------------------------------------------
def test_sample_first_and_last(run_node):
    assert run_node("sample", {"count": 2, "method": "first"}, [1, 2, 3]) == {
        "sample": [1, 2], "input_count": 3, "output_count": 2, "method": "first"}
    assert run_node("sample", {"count": 2, "method": "last"}, [1, 2, 3])["sample"] == [2, 3]
    assert run_node("sample", {"count": 5, "method": "last"}, [1, 2, 3])["sample"] == [1, 2, 3]


def test_sample_random_is_reproducible_with_a_seed(run_node):
    items = list(range(100))
    first = run_node("sample", {"count": 5, "seed": 7}, items)
    again = run_node("sample", {"count": 5, "seed": 7}, items)
    assert first == again
    assert first["method"] == "random"
    assert len(set(first["sample"])) == 5
    assert set(first["sample"]) <= set(items)


def test_sample_random_of_more_than_available_returns_all(run_node):
    assert run_node("sample", {"count": 9}, [1, 2, 3])["sample"] == [1, 2, 3]


def test_sample_count_defaults_to_one(run_node):
    assert run_node("sample", {"method": "first"}, [4, 5])["sample"] == [4]


@pytest.mark.parametrize(("data", "path", "message"), [
    ({"count": -1}, "count", "sample count must be greater than 0, got -1"),
    ({"method": "middle"}, "method",
     "unknown sample method: middle (must be one of random, first, last)"),
])
def test_sample_configuration_problems(load_problems, data, path, message):
    assert load_problems("sample", data) == [
        {"path": f"$.nodes[0].data.{path}", "message": message}]


# -- range ------------------------------------------------------------------------------------
def test_range_is_end_inclusive(run_node):
    assert run_node("range", {"start": 1, "end": 5}) == {
        "range": [1, 2, 3, 4, 5], "count": 5, "start": 1, "end": 5, "step": 1}


def test_range_defaults_to_zero_through_ten(run_node):
    assert run_node("range", {})["range"] == list(range(11))


def test_range_counts_down_with_a_negative_step(run_node):
    assert run_node("range", {"start": 10, "end": 1, "step": -3})["range"] == [10, 7, 4, 1]


def test_range_with_decimal_steps_is_exact(run_node):
    assert run_node("range", {"start": 0, "end": 1, "step": 0.25})["range"] == \
        [0.0, 0.25, 0.5, 0.75, 1.0]
    assert run_node("range", {"start": 0, "end": 0.3, "step": 0.1})["range"] == \
        [0.0, 0.1, 0.2, 0.3]


def test_range_of_ten_thousand_items_is_allowed(run_node):
    assert run_node("range", {"start": 0, "end": 9999})["count"] == 10_000


def test_range_fails_past_ten_thousand_items(run_node):
    with pytest.raises(engine.NodeError, match="^range would generate more than 10000 items"):
        run_node("range", {"start": 0, "end": 10_000})


def test_range_respects_max_array_length(run_node):
    with pytest.raises(engine.LimitExceeded, match="max_array_length=100"):
        run_node("range", {"start": 1, "end": 101}, limits=Limits(max_array_length=100))


@pytest.mark.parametrize(("data", "message"), [
    ({"step": 0}, "range step cannot be 0"),
    ({"start": 5, "end": 1}, "range with positive step requires start <= end, got start=5 end=1"),
    ({"start": 1, "end": 5, "step": -1},
     "range with negative step requires start >= end, got start=1 end=5"),
])
def test_range_configuration_problems(load_problems, data, message):
    assert load_problems("range", data) == [
        {"path": "$.nodes[0].data.step", "message": message}]


# -- compact ----------------------------------------------------------------------------------
def test_compact_drops_nulls(run_node):
    assert run_node("compact", {}, [0, None, "", False, [], None]) == {
        "compacted": [0, "", False, []], "input_count": 6, "output_count": 4, "removed": 2}


def test_compact_remove_empty_drops_empty_strings_too(run_node):
    assert run_node("compact", {"remove_empty": True}, ["a", "", None, " "])["compacted"] == \
        ["a", " "]


# -- transpose --------------------------------------------------------------------------------
def test_transpose_swaps_rows_and_columns(run_node):
    assert run_node("transpose", {}, [[1, 2, 3], [4, 5, 6]]) == {
        "transposed": [[1, 4], [2, 5], [3, 6]], "rows": 2, "cols": 3, "transposed_rows": 3,
        "transposed_cols": 2}


def test_transpose_of_an_empty_array(run_node):
    assert run_node("transpose", {}, []) == {"transposed": [], "rows": 0, "cols": 0}


@pytest.mark.parametrize(("matrix", "expected"), [
    ([1, [2]], {"error": "input is not a 2D array (array of arrays)", "first_element": 1,
                "expected": "array of arrays"}),
    ([[1], "x"], {"error": "row 1 is not an array", "row_index": 1, "row_value": "x"}),
    ([[1, 2], [3]], {"error": "all rows must have the same length", "expected_cols": 2,
                     "row_index": 1, "actual_cols": 1}),
])
def test_transpose_reports_a_malformed_matrix_in_its_result(run_node, matrix, expected):
    assert run_node("transpose", {}, matrix) == expected


# -- end to end -------------------------------------------------------------------------------
def test_range_filter_sort_slice_chain_end_to_end(chain):
    payload = chain(
        ("r", "range", {"start": 1, "end": 20}),
        ("f", "filter", {"condition": "item % 3 == 0"}),
        ("s", "sort", {"order": "desc"}),
        ("x", "slice", {"end": 2}),
    )
    result = engine.execute(payload)
    assert result.status == "succeeded"
    assert result.node_results["s"]["sorted"] == [18, 15, 12, 9, 6, 3]
    assert result.final_output == {"sliced": [18, 15], "input_count": 6, "output_count": 2,
                                   "start": 0, "end": 2}


def test_partition_reads_context_values_end_to_end(chain):
    payload = chain(
        ("c", "context_constant", {"context_values": [
            {"name": "limit", "value": "2", "type": "number"}]}),
        ("r", "range", {"start": 1, "end": 4}),
        ("p", "partition", {"condition": "item > context.limit"}),
        edges=[{"source": "r", "target": "p"}],
    )
    result = engine.execute(payload)
    assert result.final_output["passed"] == [3, 4]
