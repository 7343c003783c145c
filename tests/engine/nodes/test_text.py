"""`text_operation`: case changes, concat of all inputs, repeat."""

from __future__ import annotations

import pytest

import engine


@pytest.mark.parametrize(("op", "text", "expected"), [
    ("uppercase", "Hello wörld", "HELLO WÖRLD"),
    ("lowercase", "Hello WORLD", "hello world"),
    ("titlecase", "hello wORLD-wide web", "Hello World-Wide Web"),
    ("titlecase", "snake_case 1st o'neil", "Snake_case 1st O'Neil"),
    ("camelcase", "hello big  WORLD", "helloBigWorld"),
    ("camelcase", "   ", "   "),
    ("inversecase", "Hello World 1", "hELLO wORLD 1"),
    ("UpperCase", "abc", "ABC"),
])
def test_case_operations_transform_the_first_input(run_node, op, text, expected):
    assert run_node("text_operation", {"text_op": op}, text) == expected


def test_concat_joins_every_input_with_the_separator(run_node):
    data = {"text_op": "concat", "separator": ", "}
    assert run_node("text_operation", data, "a", "b", "c") == "a, b, c"


def test_concat_without_separator_joins_directly(run_node):
    assert run_node("text_operation", {"text_op": "concat"}, "ab", "cd") == "abcd"


def test_concat_input_that_is_not_text_fails_naming_its_position(run_node):
    with pytest.raises(engine.NodeError, match="^concat operation input 1 must be text/string$"):
        run_node("text_operation", {"text_op": "concat"}, "a", 2)


def test_repeat_repeats_the_first_input(run_node):
    assert run_node("text_operation", {"text_op": "repeat", "repeat_n": 3}, "ab") == "ababab"
    assert run_node("text_operation", {"text_op": "repeat", "repeat_n": 0}, "ab") == ""


@pytest.mark.parametrize(("data", "text", "message"), [
    ({"text_op": "repeat"}, "ab", "repeat operation requires repeat_n field"),
    ({"text_op": "repeat", "repeat_n": -1}, "ab", "repeat_n must be non-negative, got -1"),
    ({"text_op": "repeat", "repeat_n": 2}, 5, "repeat operation input must be text/string"),
    ({"text_op": "uppercase"}, 5, "text operation input must be text/string"),
    ({"text_op": "reverse"}, "ab", "unknown text operation: reverse (expected one of "
                                   "uppercase, lowercase, titlecase, camelcase, inversecase, "
                                   "concat, repeat)"),
])
def test_bad_text_operation_is_a_node_error(run_node, data, text, message):
    with pytest.raises(engine.NodeError) as caught:
        run_node("text_operation", data, text)
    assert str(caught.value) == message


def test_text_operation_without_input_fails(run_node):
    with pytest.raises(engine.NodeError, match="^text operation needs at least 1 input$"):
        run_node("text_operation", {"text_op": "uppercase"})


def test_repeat_past_the_string_limit_fails_before_building_the_string(run_node):
    limits = engine.Limits(max_string_length=100)
    with pytest.raises(engine.LimitExceeded) as caught:
        run_node("text_operation", {"text_op": "repeat", "repeat_n": 10**12}, "ab",
                 limits=limits)
    assert caught.value.limit == "max_string_length"
    assert str(caught.value) == ("string too long (limit max_string_length=100 exceeded): "
                                 "text_operation result "
                                 "would be 2000000000000 characters")


def test_concat_past_the_string_limit_fails(run_node):
    limits = engine.Limits(max_string_length=5)
    with pytest.raises(engine.LimitExceeded, match="max_string_length=5"):
        run_node("text_operation", {"text_op": "concat", "separator": "-"}, "abc", "def",
                 limits=limits)


def test_missing_text_op_and_bad_repeat_n_are_payload_errors(load_problems):
    assert load_problems("text_operation", {"repeat_n": "x"}) == [
        {"path": "$.nodes[0].data.text_op", "message": "required (string)"},
        {"path": "$.nodes[0].data.repeat_n", "message": "must be an integer, got string"},
    ]


def test_concat_of_two_text_inputs_end_to_end(chain):
    payload = chain(("a", "text_input", {"text": "Hello"}), ("b", "text_input", {"text": "you"}),
                    ("c", "text_operation", {"text_op": "concat", "separator": " "}),
                    ("u", "text_operation", {"text_op": "uppercase"}),
                    edges=[{"source": "a", "target": "c"}, {"source": "b", "target": "c"},
                           {"source": "c", "target": "u"}])
    result = engine.execute(payload)
    assert result.final_output == "HELLO YOU"
    assert result.node_results["c"] == "Hello you"
