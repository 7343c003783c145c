"""schema_validator runs every regular expression of the schema on RE2 (linear time) and
refuses, at load, the patterns RE2 cannot run, naming their JSON path.

Costs are measured in this process's CPU time (time.process_time): they are about work, and
other processes on a loaded machine must not fail them. The deadline test keeps wall time.
"""

from __future__ import annotations

import json
import time

import pytest

from engine import Limits, PayloadError, Workflow, execute, regex
from tests.engine.payloads import edge, node

CATASTROPHIC = "^(a+)+$"
EVIL_TEXT = "a" * 27 + "!"  # Python's re needs seconds for this


def validate(schema, data):
    payload = {"nodes": [node("x", "text_input", text=data),
                         node("s", "schema_validator", schema=schema)],
               "edges": [edge("x", "s")]}
    started = time.process_time()
    result = execute(payload, limits=Limits(max_execution_time=1.0))
    return result, time.process_time() - started


def load_problems(schema):
    with pytest.raises(PayloadError) as caught:
        Workflow.load({"nodes": [node("a", "number", value=1), node("b", "number", value=2),
                                 node("s", "schema_validator", schema=schema)]})
    return caught.value.to_list()


def test_catastrophic_pattern_answers_in_milliseconds():
    result, elapsed = validate({"type": "string", "pattern": CATASTROPHIC}, EVIL_TEXT)
    assert result.final_output["valid"] is False
    assert result.final_output["errors"][0]["type"] == "pattern"
    assert elapsed < 0.1


def test_patterns_still_match_what_they_should():
    result, _ = validate({"pattern": r"^\d{3}-\d{4}$"}, "555-1234")
    assert result.final_output["valid"] is True


@pytest.mark.parametrize(("schema", "valid"), [
    ({"patternProperties": {CATASTROPHIC: {"type": "integer"}}}, True),
    ({"patternProperties": {CATASTROPHIC: {"type": "integer"}}, "additionalProperties": False},
     False),
    ({"patternProperties": {CATASTROPHIC: True}, "unevaluatedProperties": False}, False),
    ({"$schema": "https://json-schema.org/draft/2019-09/schema",
      "patternProperties": {CATASTROPHIC: True}, "unevaluatedProperties": False}, False),
    ({"$schema": "http://json-schema.org/draft-07/schema#",
      "patternProperties": {CATASTROPHIC: True}, "additionalProperties": False}, False),
])
def test_pattern_properties_run_on_re2_in_every_keyword_that_reads_them(schema, valid):
    payload = {"nodes": [node("p", "parse", input_type="json"),
                         node("s", "schema_validator", schema=schema)],
               "edges": [edge("p", "s")]}
    started = time.process_time()
    text = json.dumps({EVIL_TEXT: "x"})
    result = execute({"nodes": [node("t", "text_input", text=text), *payload["nodes"]],
                      "edges": [edge("t", "p"), *payload["edges"]]},
                     limits=Limits(max_execution_time=1.0))
    assert time.process_time() - started < 0.2
    assert result.status == "succeeded"
    assert result.final_output["valid"] is valid  # the key matches no pattern


@pytest.mark.parametrize(("schema", "path"), [
    ({"properties": {"name": {"pattern": r"^(a)\1$"}}},
     "$.nodes[2].data.schema.properties.name.pattern"),
    ({"items": {"pattern": "(?=x)x"}}, "$.nodes[2].data.schema.items.pattern"),
    ({"patternProperties": {"(?<!a)b": {}}}, "$.nodes[2].data.schema.patternProperties"),
])
def test_patterns_re2_cannot_run_are_payload_errors_at_their_path(schema, path):
    found = load_problems(schema)
    assert [p["path"] for p in found] == [path]
    assert "cannot run on RE2, the linear-time regex engine" in found[0]["message"]
    assert "backreferences and lookahead/lookbehind are not supported" in found[0]["message"]


def test_format_regex_means_re2_can_run_it():
    for text, valid in ((r"^\w+$", True), (r"(a)\1", False)):
        result, _ = validate({"format": "regex"}, text)
        assert result.final_output["valid"] is valid


def test_pattern_keys_in_data_keywords_are_not_checked():
    workflow = Workflow.load({"nodes": [node("s", "schema_validator", schema={
        "const": {"pattern": r"(a)\1"}, "properties": {"pattern": {"type": "string"}}})]})
    assert workflow.node_count == 1


def test_unique_items_over_20000_objects_is_linear():
    payload = {"nodes": [node("r", "range", start=1, end=10_000),
                         node("m", "map", expression="[item % 5000, 'x']"),
                         node("e", "expression", expression="input.results"),
                         node("s", "schema_validator", schema={"uniqueItems": True})],
               "edges": [edge("r", "m"), edge("m", "e"), edge("e", "s")]}
    started = time.process_time()
    result = execute(payload, limits=Limits(max_execution_time=2.0))
    assert time.process_time() - started < 1.0
    assert result.final_output["valid"] is False
    assert result.final_output["errors"][0]["type"] == "uniqueItems"


def test_validating_a_big_instance_stops_at_the_deadline():
    payload = {"nodes": [node("t", "text_input", text="[" + ",".join(["1"] * 100_000) + "]"),
                         node("p", "parse", input_type="json"),
                         node("s", "schema_validator", schema={
                             "items": {"anyOf": [{"type": "string"},
                                                 {"type": "integer", "multipleOf": 1}]}})],
               "edges": [edge("t", "p"), edge("p", "s")]}
    started = time.perf_counter()
    result = execute(payload, limits=Limits(max_execution_time=0.2))
    elapsed = time.perf_counter() - started
    assert result.error["code"] == "limit_exceeded"
    assert result.error["node_id"] == "s"
    assert elapsed < 0.4


def test_a_pattern_longer_than_the_limit_is_refused_at_load_with_a_short_message():
    found = load_problems({"pattern": "a" * (regex.MAX_PATTERN_LENGTH + 1)})
    assert [p["path"] for p in found] == ["$.nodes[2].data.schema.pattern"]
    assert f"too long: at most {regex.MAX_PATTERN_LENGTH} characters" in found[0]["message"]
    assert len(found[0]["message"]) < 300  # the pattern is quoted, not repeated whole


def test_format_regex_on_data_strings_is_bounded_uncached_and_silent(capfd):
    costly = ("x{1000}" * 600)[:regex.MAX_PATTERN_LENGTH]  # RE2 expands each x{1000}
    strings = [f"{i}{costly}"[:regex.MAX_PATTERN_LENGTH] for i in range(5)]
    strings += ["a." * 100_000, r"^\w+@\w+$"]
    regex.compile_pattern.cache_clear()
    payload = {"nodes": [node("x", "text_input", text=json.dumps(strings)),
                         node("p", "parse", input_type="json"),
                         node("s", "schema_validator",
                              schema={"items": {"format": "regex"}})],
               "edges": [edge("x", "p"), edge("p", "s")]}
    started = time.process_time()
    result = execute(payload, limits=Limits(max_execution_time=5.0))
    # With RE2's default budget each costly string took 60-200 ms and the long one 140 ms.
    assert time.process_time() - started < 1.0
    assert result.status == "succeeded", result.error
    assert {e["field"] for e in result.final_output["errors"]} == {f"$[{i}]" for i in range(6)}
    assert regex.compile_pattern.cache_info().currsize == 0  # run data is never cached
    assert regex.compile_pattern.cache_info().maxsize == regex.CACHED_PATTERNS
    assert capfd.readouterr().err == ""  # RE2 logs nothing of its own on stderr


def test_a_schema_of_many_slow_to_compile_patterns_is_refused_at_load_in_bounded_time():
    # Each compiles for 6-17 ms before RE2 refuses it: 4-5 s for these 300 without a budget.
    schema = {"anyOf": [{"pattern": rf"\pL{{1000}}{i}"} for i in range(300)]}
    started = time.process_time()
    found = load_problems(schema)
    elapsed = time.process_time() - started

    assert elapsed < regex.LOAD_COMPILE_SECONDS + 0.75, elapsed
    assert any(f"more than {regex.LOAD_COMPILE_SECONDS:g} s to compile in all" in p["message"]
               for p in found), found[-1]


def test_a_schema_too_large_to_check_at_load_is_refused_at_once():
    from engine.nodes.schema import MAX_SCHEMA_OBJECTS

    huge = {"type": "object",
            "properties": {f"p{i}": {"type": "string"} for i in range(20_000)}}
    started = time.process_time()
    found = load_problems(huge)
    assert time.process_time() - started < 1  # checking it whole took about 8 s
    assert [p["path"] for p in found] == ["$.nodes[2].data.schema"]
    assert f"too large: 20002 JSON objects, at most {MAX_SCHEMA_OBJECTS}" in found[0]["message"]
    # the largest schema allowed still loads and validates
    largest = {"type": "object", "properties": {
        f"p{i}": {"type": "string"} for i in range(MAX_SCHEMA_OBJECTS - 2)}}
    result, _ = validate(largest, json.dumps({"p0": "x"}))
    assert result.status == "succeeded", result.errors
