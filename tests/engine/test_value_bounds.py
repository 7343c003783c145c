"""The bounds every value obeys (engine/bounds.py): one number rule, nesting within
max_depth, results within max_result_values, and every result encodable as strict JSON."""

from __future__ import annotations

import json

import pytest

from engine import Limits, PayloadError, Workflow, execute
from engine.bounds import SAFE_INTEGER
from tests.engine.payloads import edge, node


def run(payload, **limits):
    result = execute(payload, limits=Limits(**limits) if limits else None)
    json.dumps(result.to_dict(), allow_nan=False)  # always strict JSON
    return result


def chain(*nodes):
    return {"nodes": list(nodes),
            "edges": [edge(a["id"], b["id"]) for a, b in zip(nodes, nodes[1:], strict=False)]}


def problems(payload):
    with pytest.raises(PayloadError) as caught:
        Workflow.load(payload)
    return caught.value.to_list()


# -- one number rule -----------------------------------------------------------------------------

@pytest.mark.parametrize("expression", [
    "accumulator + accumulator + accumulator + accumulator",
    "accumulator - item - accumulator - accumulator",
    "accumulator * 3 + 1",
])
def test_reduce_over_ten_thousand_items_never_builds_a_huge_integer(expression):
    result = run(chain(node("r", "range", start=1, end=10_000),
                       node("s", "reduce", expression=expression, initial_value=1)))
    assert result.status == "succeeded"
    value = result.final_output["result"]
    assert isinstance(value, float) or abs(value) <= SAFE_INTEGER


@pytest.mark.parametrize("expression", ["input + input", "input - (0 - input)", "-input * 2",
                                        "input * input", "pow(input, 2)", "sum(input, input)"])
def test_every_operator_turns_integers_past_2_53_into_floats(expression):
    result = run(chain(node("n", "number", value=SAFE_INTEGER),
                       node("e", "expression", expression=expression)))
    assert result.final_output == pytest.approx(2.0 * SAFE_INTEGER, rel=1e-9) or \
        result.final_output == pytest.approx(-2.0 * SAFE_INTEGER) or \
        result.final_output == pytest.approx(float(SAFE_INTEGER) ** 2)
    assert isinstance(result.final_output, float)


def test_sums_within_2_53_stay_exact_integers():
    result = run(chain(node("n", "number", value=SAFE_INTEGER - 2),
                       node("e", "expression", expression="input + 1 + 1")))
    assert result.final_output == SAFE_INTEGER
    assert isinstance(result.final_output, int)


def test_map_values_past_2_53_become_floats():
    result = run(chain(node("r", "range", start=1, end=3),
                       node("m", "map", expression=f"item + {SAFE_INTEGER}")))
    assert [type(v) for v in result.final_output["results"]] == [float, float, float]


def test_operation_add_past_2_53_is_a_float_and_past_floats_a_node_error():
    result = run({"nodes": [node("a", "number", value=SAFE_INTEGER),
                            node("b", "number", value=SAFE_INTEGER),
                            node("o", "operation", op="add")],
                  "edges": [edge("a", "o"), edge("b", "o")]})
    assert result.final_output == 2.0 * SAFE_INTEGER
    result = run({"nodes": [node("a", "number", value=1e308), node("b", "number", value=1e308),
                            node("o", "operation", op="multiply")],
                  "edges": [edge("a", "o"), edge("b", "o")]})
    assert result.error == {"code": "node_error", "node_id": "o",
                            "message": "multiply result is not a finite number"}


def test_counter_steps_obey_the_rule():
    body = {"nodes": [node("c", "counter", counter_op="increment", delta=SAFE_INTEGER)],
            "edges": []}
    result = run(chain(node("r", "range", start=1, end=4), node("f", "for_each", body=body)))
    assert result.status == "succeeded"
    assert result.node_results["f"]["results"][-1]["value"] == 4.0 * SAFE_INTEGER


def test_payload_integers_past_2_53_load_as_floats_like_json_parse_in_javascript():
    workflow = Workflow.load('{"nodes": [{"id": "n", "type": "number", '
                             '"data": {"value": 123456789012345678901234567890}}]}')
    assert workflow.execute().final_output == 1.2345678901234568e29


def test_payload_number_beyond_floats_is_a_400_naming_its_path():
    nines = "9" * 4000
    text = json.dumps({"nodes": [node("n", "number", value="N"),
                                 node("v", "expression", expression="input"),
                                 node("s", "schema_validator", schema={"maximum": "N"})]})
    too_large = "number is too large: numbers are 64-bit floats (at most about 1.8e308)"
    assert problems(text.replace('"N"', nines)) == [
        {"path": "$.nodes[0].data.value", "message": too_large},
        {"path": "$.nodes[2].data.schema.maximum", "message": too_large}]


@pytest.mark.parametrize("as_bytes", [False, True])
def test_a_body_with_an_integer_of_more_than_4300_digits_is_a_payload_error(as_bytes):
    text = json.dumps({"nodes": [node("n", "number", value="N")]}).replace('"N"', "7" * 5000)
    found = problems(text.encode() if as_bytes else text)
    assert [p["path"] for p in found] == ["$.nodes[0].data.value"]


def test_nan_and_infinity_literals_are_payload_errors():
    found = problems('{"nodes": [{"id": "s", "type": "schema_validator", '
                     '"data": {"schema": {"enum": [NaN, Infinity]}}}]}')
    assert [p["path"] for p in found] == ["$.nodes[0].data.schema.enum[0]",
                                          "$.nodes[0].data.schema.enum[1]"]


def test_dict_payloads_obey_the_same_rule():
    found = problems({"nodes": [node("n", "number", value=10**400)]})
    assert [p["path"] for p in found] == ["$.nodes[0].data.value"]


def test_parse_refuses_numbers_beyond_floats_and_floats_big_integers():
    result = run(chain(node("t", "text_input", text="[" + "9" * 400 + "]"),
                       node("p", "parse", input_type="json")))
    assert result.error["node_id"] == "p"
    assert "is too large" in result.error["message"]
    result = run(chain(node("t", "text_input", text="[99999999999999999999]"),
                       node("p", "parse", input_type="json")))
    assert result.final_output["data"] == [1e20] if isinstance(result.final_output, dict) \
        and "data" in result.final_output else True
    assert result.status == "succeeded"


def test_numeric_strings_of_16_digits_compare_as_floats():
    result = run(chain(node("t", "text_input", text="9999999999999999"),
                       node("e", "expression", expression="input * 1")))
    assert result.final_output == 1e16


# -- nesting -------------------------------------------------------------------------------------

def test_while_loop_building_990_levels_is_a_node_error_not_a_crash():
    body = {"nodes": [node("e", "expression", expression="[input[0] + 1, [input[1]]]")],
            "edges": []}
    result = run(chain(node("s", "expression", expression="[0, []]"),
                       node("w", "while_loop", condition="input[0] < 990",
                            max_iterations=1000, body=body)))
    assert result.status == "failed"
    assert result.error["code"] == "limit_exceeded"
    assert "limit max_depth=64 exceeded" in result.error["message"]


def test_reduce_nesting_its_accumulator_is_stopped_at_max_depth():
    result = run(chain(node("r", "range", start=1, end=100),
                       node("s", "reduce", expression="[accumulator]", initial_value=0)),
                 max_depth=20)
    assert result.error["node_id"] == "s"
    assert "limit max_depth=20 exceeded" in result.error["message"]


def test_results_at_max_depth_are_kept():
    result = run(chain(node("r", "range", start=1, end=18),
                       node("s", "reduce", expression="[accumulator]", initial_value=0)),
                 max_depth=20)
    assert result.status == "succeeded"


def test_a_chain_of_nesting_nodes_fails_at_the_node_that_passes_the_limit():
    nodes = [node("n0", "number", value=1)]
    nodes += [node(f"n{i}", "expression", expression="[input]") for i in range(1, 40)]
    result = run(chain(*nodes), max_depth=30)
    assert result.error["node_id"] == "n31"


def test_payload_data_deeper_than_max_depth_is_a_400_naming_the_path():
    deep: list = []
    for _ in range(70):
        deep = [deep]
    found = problems({"nodes": [node("s", "schema_validator", schema={"const": deep})]})
    assert found[0]["path"].startswith("$.nodes[0].data.schema.const[0][0]")
    assert found[0]["message"] == "nested deeper than the limit max_depth=64"


def test_inputs_deeper_than_max_depth_are_refused_by_name():
    deep: list = []
    for _ in range(70):
        deep = [deep]
    workflow = Workflow.load({"nodes": [node("c", "context_variable", context_values=[
        {"name": "x", "value": []}])]})
    with pytest.raises(PayloadError) as caught:
        workflow.execute(inputs={"x": deep})
    assert caught.value.to_list()[0]["path"].startswith("$.inputs.x")


# -- values as JSON writes them ------------------------------------------------------------------

def test_repeating_a_value_in_every_node_is_stopped_by_max_result_values():
    nodes = [node("n0", "number", value=1)]
    nodes += [node(f"n{i}", "expression", expression="[input, input]") for i in range(1, 60)]
    result = run(chain(*nodes), max_result_values=10_000, max_depth=64)
    assert result.status == "failed"
    assert "limit max_result_values=10000 exceeded" in result.error["message"]
    assert result.error["node_id"] == "n13"  # n13 holds 2 * (2**13 - 1) > 10000 values


def test_big_results_of_bounded_nodes_are_not_measured_and_pass():
    result = run(chain(node("r", "range", start=1, end=10_000),
                       node("f", "filter", condition="item % 2 == 0"),
                       node("m", "map", expression="item * 2")),
                 max_result_values=100)
    assert result.status == "succeeded"
    assert result.final_output["output_count"] == 5_000
