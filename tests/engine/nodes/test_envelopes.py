"""Every node type's result has exactly Thaiyyal's keys and values, no more, no fewer: one
case per node type (several for types with several shapes). Each expectation was read off
the executor named beside it (backend/pkg/executor/<file>.go at Thaiyyal's commit 2eccd85).
Fields the user gave are echoed as given (a cache `ttl` of "10m" stays "10m")."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from engine import execute
from engine.nodes.base import NODE_TYPES

NOT_AN_ARRAY = {"error": "input is not an array", "input": 5, "original_type": "number"}

CASES = [
    # (id, node type, data, inputs, expected result)   # Thaiyyal's executor
    ("number", "number", {"value": 4}, [], 4),                                 # input_number
    ("text_input", "text_input", {"text": "a"}, [], "a"),                      # input_text
    ("boolean_input", "boolean_input", {"boolean_value": True}, [], True),     # input_boolean
    ("date_input", "date_input", {"date_value": "2024-01-02"}, [], "2024-01-02"),
    ("datetime_input", "datetime_input", {"datetime_value": "2024-01-02T03:04:05Z"}, [],
     "2024-01-02T03:04:05Z"),                                                  # input_datetime
    ("visualization", "visualization", {"mode": "text"}, [{"a": 1}], {"a": 1}),
    ("renderer", "renderer", {"mode": "json"}, [], None),                      # renderer
    ("operation", "operation", {"op": "add"}, [2, 3], 5),                      # operation
    ("text_operation", "text_operation", {"text_op": "uppercase"}, ["ab"], "AB"),
    ("expression", "expression", {"expression": "input * 2"}, [4], 8),        # expression
    ("condition", "condition", {"condition": ">=3"}, [4],                      # control_condition
     {"value": 4, "condition_met": True, "condition": ">=3", "path": "true",
      "true_path": True, "false_path": False}),
    ("switch", "switch", {"cases": [{"when": ">3", "output_path": "big"},
                                    {"is_default": True}]}, [4],             # control_switch
     {"value": 4, "matched": True, "case": ">3", "output_path": "big", "case_index": 0}),
    ("switch default", "switch", {"cases": [{"when": ">9", "output_path": "big"},
                                            {"is_default": True}]}, [4],
     {"value": 4, "matched": False, "case": "default", "output_path": "default",
      "case_index": 1}),
    ("for_each", "for_each", {}, [[1, 2]],                                     # control_foreach
     {"input_count": 2, "iterations": 2, "successful": 2, "failed": 0}),
    ("while_loop", "while_loop", {"condition": "input > 9"}, [1],              # control_whileloop
     {"final_value": 1, "iterations": 0, "condition": "input > 9"}),
    ("filter", "filter", {"condition": "item > 1"}, [[1, 2, 3]],               # control_filter
     {"filtered": [2, 3], "input_count": 3, "output_count": 2, "skipped_count": 1,
      "error_count": 0, "condition": "item > 1", "is_array": True}),
    ("filter non-array", "filter", {"condition": "item > 1"}, [5],
     {"input": 5, "filtered": 5, "is_array": False,
      "warning": "input is not an array, passed through unchanged",
      "original_type": "number"}),
    ("map", "map", {"expression": "item * 2"}, [[1, 2]],                       # control_map
     {"results": [2, 4], "input_count": 2, "output_count": 2, "successful": 2, "failed": 0}),
    ("reduce", "reduce", {"expression": "accumulator + item"}, [[1, 2]],       # control_reduce
     {"result": 3, "initial_value": None, "final_value": 3, "input_count": 2,
      "iterations": 2, "successful": 2, "failed": 0}),
    ("slice", "slice", {"start": 1}, [[1, 2, 3]],                              # control_slice
     {"sliced": [2, 3], "input_count": 3, "output_count": 2, "start": 1, "end": 3}),
    ("slice non-array", "slice", {"start": 1}, [5], NOT_AN_ARRAY),
    ("sort", "sort", {"order": "desc"}, [[1, 3, 2]],                           # control_sort
     {"sorted": [3, 2, 1], "count": 3, "field": "", "order": "desc"}),
    ("find", "find", {"condition": "item > 1"}, [[1, 2, 3]],                   # control_find
     {"found": 2, "condition": "item > 1"}),
    ("find index", "find", {"condition": "item > 1", "return_index": True}, [[1, 2, 3]],
     {"found": 2, "index": 1, "condition": "item > 1"}),
    ("find nothing", "find", {"condition": "item > 5"}, [[1, 2]],
     {"found": None, "not_found": True, "condition": "item > 5", "input_count": 2}),
    ("flat_map", "flat_map", {}, [[[1], [2, 3]]],                              # control_flatmap
     {"flattened": [1, 2, 3], "input_count": 2, "output_count": 3, "field": ""}),
    ("group_by", "group_by", {"field": "k"}, [[{"k": "a"}, {"k": "a"}, {"k": "b"}]],
     {"groups": {"a": [{"k": "a"}, {"k": "a"}], "b": [{"k": "b"}]}, "group_count": 2,
      "input_count": 3, "field": "k", "aggregate": "count",
      "counts": {"a": 2, "b": 1}}),                                            # control_groupby
    ("unique", "unique", {}, [[1, 1, 2]],                                      # control_unique
     {"unique": [1, 2], "input_count": 3, "output_count": 2, "removed": 1}),
    ("chunk", "chunk", {"size": 2}, [[1, 2, 3]],                               # control_chunk
     {"chunks": [[1, 2], [3]], "input_count": 3, "chunk_count": 2, "chunk_size": 2}),
    ("reverse", "reverse", {}, [[1, 2]], {"reversed": [2, 1], "count": 2}),    # control_reverse
    ("partition", "partition", {"condition": "item > 1"}, [[1, 2]],            # control_partition
     {"passed": [2], "failed": [1], "passed_count": 1, "failed_count": 1, "input_count": 2,
      "condition": "item > 1"}),
    ("zip", "zip", {"arrays": [[3, 4]]}, [[1, 2]],                             # control_zip
     {"zipped": [[1, 3], [2, 4]], "array_count": 2, "tuple_count": 2, "max_length": 2}),
    ("sample", "sample", {"count": 1, "method": "first"}, [[1, 2]],            # control_sample
     {"sample": [1], "input_count": 2, "output_count": 1, "method": "first"}),
    ("range", "range", {"start": 1, "end": 3}, [],                             # control_range
     {"range": [1, 2, 3], "count": 3, "start": 1, "end": 3, "step": 1}),
    ("compact", "compact", {}, [[1, None]],                                    # control_zip.go
     {"compacted": [1], "input_count": 2, "output_count": 1, "removed": 1}),
    ("transpose", "transpose", {}, [[[1, 2], [3, 4]]],                         # control_transpose
     {"transposed": [[1, 3], [2, 4]], "rows": 2, "cols": 2, "transposed_rows": 2,
      "transposed_cols": 2}),
    ("variable", "variable", {"var_name": "x", "var_op": "set"}, [1],          # state_variable
     {"var_name": "x", "operation": "set", "value": 1}),
    ("extract", "extract", {"field": "a"}, [{"a": 1, "b": 2}],                 # extract
     {"field": "a", "value": 1}),
    ("extract fields", "extract", {"fields": ["a", "z"]}, [{"a": 1, "b": 2}], {"a": 1}),
    ("transform", "transform", {"transform_type": "keys"}, [{"a": 1}], ["a"]), # transform
    ("accumulator", "accumulator", {"accum_op": "sum"}, [5],                   # accumulator
     {"operation": "sum", "value": 5}),
    ("counter", "counter", {"counter_op": "increment"}, [],                    # counter
     {"operation": "increment", "value": 1}),
    ("parse", "parse", {"input_type": "JSON"}, ['{"a": 1}'], {"a": 1}),        # processor_parse
    ("format", "format", {"output_type": "JSON"}, [[1]], "[1]"),               # processor_format
    ("parallel", "parallel", {"max_concurrency": 2}, [1, 2],                   # parallel
     {"results": [1, 2], "count": 2, "concurrency": 2}),
    ("join", "join", {"join_strategy": "all"}, [1, 2],                         # join
     {"strategy": "all", "values": [1, 2], "count": 2}),
    ("join any", "join", {"join_strategy": "any"}, [1],
     {"strategy": "any", "value": 1, "count": 1}),
    ("join first", "join", {"join_strategy": "first"}, [1],
     {"strategy": "first", "value": 1}),
    ("split", "split", {"paths": ["a", "b"]}, [1],                             # split
     {"value": 1, "paths": ["a", "b"], "outputs": {"a": 1, "b": 1}}),
    ("delay", "delay", {"duration": "1ms"}, [1],                               # delay
     {"value": 1, "duration": "1ms", "delayed": True}),
    ("cache set", "cache", {"cache_op": "set", "cache_key": "k", "ttl": "10m"}, [1],
     {"operation": "set", "key": "k", "value": 1, "ttl": "10m"}),              # cache
    ("cache get", "cache", {"cache_op": "get", "cache_key": "k"}, [],
     {"operation": "get", "key": "k", "found": False, "value": None}),
    ("cache delete", "cache", {"cache_op": "delete", "cache_key": "k"}, [],
     {"operation": "delete", "key": "k", "deleted": True}),
    ("retry", "retry", {"max_attempts": 2}, [1],                               # state_retry
     {"value": 1, "attempts": 1, "success": True}),
    ("timeout", "timeout", {"timeout": "1m"}, [1],                             # state_timeout
     {"value": 1, "timeout_duration": "1m0s", "execution_time": "0s", "timed_out": False}),
    ("try_catch", "try_catch", {"fallback_value": 0}, [1],                     # state_trycatch
     {"value": 1, "error_caught": False}),
    ("try_catch caught", "try_catch", {"fallback_value": 0, "error_output_path": "oops"},
     [{"error": "boom"}],
     {"value": 0, "error_caught": True, "error_message": "boom", "error_output_path": "oops"}),
    ("rate_limiter", "rate_limiter", {"max_requests": 5, "per_duration": "2s"}, [1],
     {"value": 1, "rate_limited": True, "requests_count": 1, "max_requests": 5,
      "window": "2s"}),                                                        # rate_limiter
    ("throttle", "throttle", {"requests_per_second": 100}, [1],                # throttle
     {"value": 1, "throttled": True, "requests_per_second": 100, "delay_ms": 0}),
    ("schema_validator", "schema_validator", {"schema": {"type": "number"}}, [1],
     {"valid": True, "data": 1}),                                              # schema_validator
    ("context_variable", "context_variable",                                   # contextvariable
     {"context_values": [{"name": "a", "value": 1, "type": "number"}]}, [],
     {"type": "variable", "variables": {"a": 1}}),
    ("context_variable legacy", "context_variable",
     {"context_name": "a", "context_value": "x"}, [],
     {"type": "variable", "name": "a", "value": "x"}),
    ("context_constant", "context_constant",                                   # contextconstant
     {"context_values": [{"name": "a", "value": "x", "type": "string"}]}, [],
     {"type": "const", "constants": {"a": "x"}}),
]

#: no Thaiyyal executor to compare with
NOT_PINNED_HERE = {"paginator"}

#: The http node's result is the response body, decoded as http.go decodes it: parsed
#: when the Content-Type is application/json or application/*+json, or when there is no
#: Content-Type and the body starts with `{` or `[` (the text when it does not parse);
#: else the text, "" when empty. (id, loopback /body query, expected result)
HTTP_CASES = [
    ("json", {"text": '{"a": [1, 2.5]}', "type": "application/json"}, {"a": [1, 2.5]}),
    ("json charset", {"text": "[1]", "type": "application/json; charset=utf-8"}, [1]),
    ("vendor json", {"text": '{"title": "x"}', "type": "application/problem+json"},
     {"title": "x"}),
    ("text/json is text", {"text": '{"a": 1}', "type": "text/json"}, '{"a": 1}'),
    ("json-looking text/plain is text", {"text": '{"a": 1}', "type": "text/plain"},
     '{"a": 1}'),
    ("no type, json object", {"text": ' {"a": 1}'}, {"a": 1}),
    ("no type, json array", {"text": "[1, 2]"}, [1, 2]),
    ("no type, broken json", {"text": "[1, 2"}, "[1, 2"),
    ("no type, number is text", {"text": "42"}, "42"),
    ("no type, text", {"text": "hello"}, "hello"),
    ("no type, empty", {}, ""),
    # http-body difference: Go's decoder keeps the first value and ignores the rest
    ("no type, json then text", {"text": '{"a": 1} tail'}, '{"a": 1} tail'),
    ("text, empty", {"type": "text/plain"}, ""),
]

#: a body that says JSON and is not: the node fails with http.go's phrase
HTTP_FAILURES = [
    ("json, empty", {"type": "application/json"}, "failed to parse JSON response: EOF"),
    ("json, invalid", {"text": "{nope", "type": "application/json"},
     "failed to parse JSON response: Expecting property name"),
    ("json then text", {"text": '{"a": 1} tail', "type": "application/json"},  # http-body
     "failed to parse JSON response: Extra data"),
]


def _http_result(server, loopback_policy, query):
    url = server.url("/body?" + urlencode(query))
    return execute({"nodes": [{"id": "h", "type": "http", "data": {"url": url}}],
                    "edges": []}, services={"egress_policy": loopback_policy})


@pytest.mark.parametrize(("node_type", "data", "inputs", "expected"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_result_has_exactly_thaiyyals_keys_and_values(run_node, node_type, data, inputs,
                                                      expected):
    result = run_node(node_type, data, *inputs)
    assert result == expected
    if isinstance(expected, dict):
        assert set(result) == set(expected)  # key for key (== already says so; be explicit)


@pytest.mark.parametrize(("query", "expected"), [c[1:] for c in HTTP_CASES],
                         ids=[c[0] for c in HTTP_CASES])
def test_http_result_is_the_body_decoded_as_thaiyyal_decodes_it(http_server, loopback_policy,
                                                                query, expected):
    result = _http_result(http_server, loopback_policy, query)
    assert result.status == "succeeded", result.errors
    assert result.node_results["h"] == expected
    assert type(result.node_results["h"]) is type(expected)


@pytest.mark.parametrize(("query", "phrase"), [c[1:] for c in HTTP_FAILURES],
                         ids=[c[0] for c in HTTP_FAILURES])
def test_http_body_that_says_json_and_is_not_fails(http_server, loopback_policy, query, phrase):
    result = _http_result(http_server, loopback_policy, query)
    assert result.status == "failed"
    assert result.errors[0].startswith(f"error executing node h: {phrase}"), result.errors


def test_every_node_type_has_a_case():
    ours = {name for name, cls in NODE_TYPES.items() if cls.__module__.startswith("engine.")}
    pinned = {c[1] for c in CASES} | {"http"}  # http: HTTP_CASES
    assert pinned | NOT_PINNED_HERE == ours  # tests register helpers too
