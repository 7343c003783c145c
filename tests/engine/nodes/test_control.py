"""`expression`, `condition` and `switch`: evaluation on the input, envelopes, branch gating."""

from __future__ import annotations

import pytest

import engine

GRADES = [
    {"when": "input >= 90", "output_path": "A"},
    {"when": "input >= 80", "output_path": "B"},
    {"when": "input >= 70", "output_path": "C"},
    {"when": "default", "output_path": "F", "is_default": True},
]


def statuses(result):
    return {n.id: n.status for n in result.nodes}


# -- expression -------------------------------------------------------------------------------
@pytest.mark.parametrize(("expression", "value", "expected"), [
    ("input * 2", 5, 10),
    ("input.price * input.qty", {"price": 10, "qty": 3}, 30),
    ("input > 100 ? 'high' : 'low'", 150, "high"),
    ("input.name.toUpperCase()", {"name": "ada"}, "ADA"),
    ("input > 2", 5, True),
])
def test_expression_evaluates_on_the_first_input(run_node, expression, value, expected):
    assert run_node("expression", {"expression": expression}, value, "ignored") == expected


def test_expression_without_input_sees_null(run_node):
    assert run_node("expression", {"expression": "isNull(input)"}) is True


def test_expression_reads_variables_and_context(run_node):
    assert run_node("expression", {"expression": "context.rate * input"}, 4,
                    context={"rate": 2.5}) == 10.0


def test_expression_that_fails_to_evaluate_fails_the_run(chain):
    result = engine.execute(chain(("t", "text_input", {"text": "abc"}),
                                  ("e", "expression", {"expression": "input.toFixed(2)"})))
    assert result.status == "failed"
    assert result.error["node_id"] == "e"
    assert result.errors[0].startswith("error executing node e: ")


def test_expression_syntax_error_is_a_payload_error_naming_node_and_column(load_problems):
    [problem] = load_problems("expression", {"expression": "input +"})
    assert problem["path"] == "$.nodes[0].data.expression"
    assert problem["message"].startswith("node 'n': expression syntax error at column ")


def test_expression_reads_other_node_results_end_to_end(chain):
    payload = chain(("a", "number", {"value": 5}), ("b", "number", {"value": 7}),
                    ("e", "expression", {"expression": "node.a + node.b"}),
                    edges=[{"source": "a", "target": "e"}, {"source": "b", "target": "e"}])
    assert engine.execute(payload).final_output == 12


# -- condition --------------------------------------------------------------------------------
def test_condition_met_selects_the_true_path(run_node):
    assert run_node("condition", {"condition": "input > 100"}, 150) == {
        "value": 150, "condition_met": True, "condition": "input > 100",
        "path": "true", "true_path": True, "false_path": False}


def test_condition_not_met_selects_the_false_path(run_node):
    assert run_node("condition", {"condition": "input.age >= 18"}, {"age": 12}) == {
        "value": {"age": 12}, "condition_met": False, "condition": "input.age >= 18",
        "path": "false", "true_path": False, "false_path": True}


@pytest.mark.parametrize(("condition", "value", "met"), [
    (">=18", 18, True),
    (">=18", 17, False),
    ("input", 0, False),
    ("input", "", False),
    ("input", "x", True),
    ("input", None, False),
    ("input.active && input.age > 20", {"active": True, "age": 30}, True),
    ("true", 1, True),
])
def test_condition_value_counts_as_true_by_javascript_rules(run_node, condition, value, met):
    assert run_node("condition", {"condition": condition}, value)["condition_met"] is met


def test_condition_that_fails_to_evaluate_counts_as_false(run_node):
    result = run_node("condition", {"condition": "input.toUpperCase() == 'A'"}, 5)
    assert result["condition_met"] is False
    assert result["path"] == "false"


def test_condition_needs_an_input(run_node):
    with pytest.raises(engine.NodeError, match="^condition node needs at least 1 input$"):
        run_node("condition", {"condition": "true"})


def test_condition_is_required(load_problems):
    assert load_problems("condition", {}) == [
        {"path": "$.nodes[0].data.condition", "message": "required (expression)"}]


def branch_payload(value):
    return {
        "nodes": [
            {"id": "n", "type": "number", "data": {"value": value}},
            {"id": "big", "type": "condition", "data": {"condition": "input > 100"}},
            {"id": "yes", "type": "expression", "data": {"expression": "input.value * 2"}},
            {"id": "yes2", "type": "visualization", "data": {}},
            {"id": "no", "type": "visualization", "data": {}},
        ],
        "edges": [
            {"source": "n", "target": "big"},
            {"source": "big", "target": "yes", "sourceHandle": "true"},
            {"source": "yes", "target": "yes2"},
            {"source": "big", "target": "no", "sourceHandle": "false"},
        ],
    }


def test_condition_runs_only_the_true_branch_and_skips_what_follows_the_false_one():
    result = engine.execute(branch_payload(150))
    assert statuses(result) == {"n": "succeeded", "big": "succeeded", "yes": "succeeded",
                                "yes2": "succeeded", "no": "skipped"}
    assert result.final_output == 300


def test_condition_runs_only_the_false_branch_and_skips_the_true_chain():
    result = engine.execute(branch_payload(50))
    assert statuses(result) == {"n": "succeeded", "big": "succeeded", "yes": "skipped",
                                "yes2": "skipped", "no": "succeeded"}
    assert result.final_output["condition_met"] is False


def test_condition_type_is_inferred_from_condition_and_true_path():
    payload = {"nodes": [{"id": "n", "data": {"value": 3}},
                         {"id": "c", "data": {"condition": "input > 1", "true_path": "yes"}}],
               "edges": [{"source": "n", "target": "c"}]}
    assert engine.execute(payload).node_results["c"]["condition_met"] is True


# -- switch -----------------------------------------------------------------------------------
def test_switch_picks_the_first_matching_case(run_node):
    assert run_node("switch", {"cases": GRADES}, 85) == {
        "value": 85, "matched": True, "case": "input >= 80", "output_path": "B",
        "case_index": 1}


def test_switch_falls_back_to_the_default_case(run_node):
    assert run_node("switch", {"cases": GRADES}, 12) == {
        "value": 12, "matched": False, "case": "default", "output_path": "F",
        "case_index": 3}


def test_default_case_without_output_path_is_default(run_node):
    cases = [{"when": "input == 1", "output_path": "one"}, {"when": "x", "is_default": True}]
    assert run_node("switch", {"cases": cases}, 2)["output_path"] == "default"


def test_switch_without_default_case_uses_default_path(run_node):
    cases = [{"when": "input == 1", "output_path": "one"}]
    assert run_node("switch", {"cases": cases}, 2) == {
        "value": 2, "matched": False, "case": "default", "output_path": "default",
        "case_index": None}
    assert run_node("switch", {"cases": cases, "default_path": "other"}, 2)["output_path"] \
        == "other"


def test_matching_case_without_output_path_is_matched(run_node):
    assert run_node("switch", {"cases": [{"when": "input > 0"}]}, 1)["output_path"] == "matched"


@pytest.mark.parametrize(("case", "value", "matched"), [
    ({"when": 10, "output_path": "p"}, 10, True),
    ({"when": 10, "output_path": "p"}, 10.0, True),
    ({"when": 10, "output_path": "p"}, "10", True),   # `==`'s rule: 10 == "10"
    ({"when": 10, "output_path": "p"}, "ten", False),
    ({"when": True, "output_path": "p"}, 1, False),
    ({"when": None, "value": None, "output_path": "p"}, 0, False),
    ({"when": "ten", "value": 10, "output_path": "p"}, 10, True),
    ({"when": "'gold'", "output_path": "p"}, "gold", True),
    ({"when": "'gold'", "output_path": "p"}, "silver", False),
    ({"when": "input.tier == 'gold'", "output_path": "p"}, {"tier": "gold"}, True),
])
def test_switch_when_is_an_expression_or_a_value_to_match(run_node, case, value, matched):
    assert run_node("switch", {"cases": [case]}, value)["matched"] is matched


def test_literal_case_reports_its_when_as_the_case(run_node):
    result = run_node("switch", {"cases": [{"when": "ten", "value": 10, "output_path": "p"}]}, 10)
    assert result["case"] == "ten"


def test_case_whose_expression_fails_is_skipped(run_node):
    cases = [{"when": "input.toUpperCase() == 'A'", "output_path": "a"},
             {"when": "input == 5", "output_path": "five"}]
    assert run_node("switch", {"cases": cases}, 5)["output_path"] == "five"


def test_switch_needs_an_input(run_node):
    with pytest.raises(engine.NodeError, match="^switch node requires at least one input$"):
        run_node("switch", {"cases": GRADES})


@pytest.mark.parametrize(("cases", "message"), [
    ([], "switch node requires at least one case"),
    ([{"when": "default", "is_default": True}, {"when": "input > 1", "output_path": "a"}],
     "default case must be the last case in the array (found at index 0, but last index "
     "is 1)"),
    ([{"when": "a", "is_default": True}, {"when": "b", "is_default": True}],
     "switch node must have exactly one default case (found 2)"),
    ([{"output_path": "a"}], "cases[0] needs `when` (an expression or a value to match)"),
    (["input > 1"], "cases[0] must be an object with `when` and `output_path`"),
    ([{"when": "input > 1", "output_path": 3}], "cases[0].output_path must be a string"),
    ([{"when": "input > 1", "is_default": "yes"}], "cases[0].is_default must be true or false"),
])
def test_bad_cases_are_payload_errors(load_problems, cases, message):
    assert load_problems("switch", {"cases": cases}) == [
        {"path": "$.nodes[0].data.cases", "message": message}]


def test_case_with_a_syntax_error_is_a_payload_error_with_its_column(load_problems):
    [problem] = load_problems("switch", {"cases": [{"when": "input >", "output_path": "a"}]})
    assert problem["path"] == "$.nodes[0].data.cases"
    assert problem["message"].startswith("cases[0].when: ")
    assert " at column " in problem["message"]


def test_switch_fires_only_the_edges_of_its_output_path():
    payload = {
        "nodes": [{"id": "n", "type": "number", "data": {"value": 85}},
                  {"id": "s", "type": "switch", "data": {"cases": GRADES}},
                  {"id": "a", "type": "visualization", "data": {}},
                  {"id": "b", "type": "expression", "data": {"expression": "input.value + 1"}},
                  {"id": "f", "type": "visualization", "data": {}}],
        "edges": [{"source": "n", "target": "s"},
                  {"source": "s", "target": "a", "sourceHandle": "A"},
                  {"source": "s", "target": "b", "sourceHandle": "B"},
                  {"source": "s", "target": "f", "sourceHandle": "F"}],
    }
    result = engine.execute(payload)
    assert statuses(result) == {"n": "succeeded", "s": "succeeded", "a": "skipped",
                                "b": "succeeded", "f": "skipped"}
    assert result.final_output == 86
