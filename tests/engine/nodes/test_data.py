"""Data nodes: parse (AUTO, JSON, CSV, TSV, YAML, XML) and format (JSON, CSV, TSV)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import engine
from engine import Limits, Workflow
from engine.state import NodeContext, Run


# -- parse: JSON ------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "expected"), [
    ('{"name": "Alice", "age": 30}', {"name": "Alice", "age": 30}),
    ("[1, 2.5, null]", [1, 2.5, None]),
    ("  true ", True),
    ("42", 42),
    ('"s"', "s"),
])
def test_parse_json(run_node, text, expected):
    assert run_node("parse", {"input_type": "JSON"}, text) == expected


@pytest.mark.parametrize(("text", "message"), [
    ("{bad", "invalid JSON: Expecting property name enclosed in double quotes at line 1 "
             "column 2"),
    ("", "invalid JSON: empty input"),
    ("NaN", "invalid JSON: NaN is not valid JSON"),
    ("[" * 100_000 + "]" * 100_000, "invalid JSON: nested too deeply"),
])
def test_parse_invalid_json_fails(run_node, text, message):
    with pytest.raises(engine.NodeError, match=f"^{message}$"):
        run_node("parse", {"input_type": "json"}, text)


def test_parse_reads_non_string_input_as_its_json_text(run_node):
    assert run_node("parse", {"input_type": "json"}, 5) == 5
    assert run_node("parse", {"input_type": "json"}, {"a": [1]}) == {"a": [1]}


# -- parse: CSV and TSV -----------------------------------------------------------------------
def test_parse_csv_makes_typed_objects_from_the_header(run_node):
    text = "name,age,active,note\nAlice,30,true,\nBob, 2.5,false,null\n"
    assert run_node("parse", {"input_type": "CSV"}, text) == [
        {"name": "Alice", "age": 30, "active": True, "note": ""},
        {"name": "Bob", "age": 2.5, "active": False, "note": None},
    ]


def test_parse_csv_handles_quotes_blank_lines_and_short_rows(run_node):
    text = 'a,b,c\n"x, y","say ""hi"""\n\n1,2,3\n'
    assert run_node("parse", {"input_type": "csv"}, text) == [
        {"a": "x, y", "b": 'say "hi"', "c": None}, {"a": 1, "b": 2, "c": 3}]


def test_parse_csv_row_longer_than_the_header_fails(run_node):
    with pytest.raises(engine.NodeError,
                       match="^invalid CSV: row 3 has 3 fields, the header has 2$"):
        run_node("parse", {"input_type": "csv"}, "a,b\n1,2\n1,2,3")


def test_parse_csv_with_a_stray_quote_fails(run_node):
    with pytest.raises(engine.NodeError, match="^invalid CSV: "):
        run_node("parse", {"input_type": "csv"}, 'a,b\n1,"2"x\n')


def test_parse_tsv(run_node):
    assert run_node("parse", {"input_type": "tsv"}, "a\tb\n1\tx y\n") == [{"a": 1, "b": "x y"}]


def test_parse_empty_csv_is_an_empty_array(run_node):
    assert run_node("parse", {"input_type": "csv"}, "") == []


def test_parse_csv_rows_respect_max_array_length(run_node):
    with pytest.raises(engine.LimitExceeded, match="max_array_length=2"):
        run_node("parse", {"input_type": "csv"}, "a\n1\n2\n3\n",
                 limits=Limits(max_array_length=2))


# -- parse: YAML ------------------------------------------------------------------------------
def test_parse_yaml(run_node):
    text = "name: Alice\nage: 30\nactive: true\nwhen: 2024-01-31\nitems:\n  - 1\n  - two\n"
    assert run_node("parse", {"input_type": "YAML"}, text) == {
        "name": "Alice", "age": 30, "active": True, "when": "2024-01-31", "items": [1, "two"]}


def test_parse_yaml_makes_keys_strings(run_node):
    assert run_node("parse", {"input_type": "yaml"}, "2: two\nfalse: no\nnull: x\n") == {
        "2": "two", "false": False, "null": "x"}


def test_parse_yaml_refuses_an_alias_bomb(run_node):
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 9):
        prev, name = chr(ord("a") + i - 1), chr(ord("a") + i)
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    with pytest.raises(engine.NodeError, match="^invalid YAML: aliases expand the document"):
        run_node("parse", {"input_type": "yaml"}, "\n".join(lines))


def test_parse_yaml_allows_a_small_alias(run_node):
    text = "base: &base {x: 1}\ncopy: *base\n"
    assert run_node("parse", {"input_type": "yaml"}, text) == {"base": {"x": 1},
                                                             "copy": {"x": 1}}


@pytest.mark.parametrize("text", ["a: [1, 2", "!!python/object:os.system {}", "x: .nan"])
def test_parse_invalid_or_unsafe_yaml_fails(run_node, text):
    with pytest.raises(engine.NodeError, match="^invalid YAML: "):
        run_node("parse", {"input_type": "yaml"}, text)


# -- parse: XML -------------------------------------------------------------------------------
def test_parse_xml_turns_elements_into_objects(run_node):
    text = "<user><name>Alice</name><age>30</age></user>"
    assert run_node("parse", {"input_type": "XML"}, text) == {
        "user": {"name": "Alice", "age": 30}}


def test_parse_xml_attributes_repeats_and_mixed_text(run_node):
    text = ('<?xml version="1.0"?><list id="7"><item>a</item><item>b</item>'
            "<item/>note</list>")
    assert run_node("parse", {"input_type": "xml"}, text) == {
        "list": {"@id": 7, "item": ["a", "b", ""], "#text": "note"}}


def test_parse_xml_of_a_single_element(run_node):
    assert run_node("parse", {"input_type": "xml"}, "<name>Alice</name>") == {"name": "Alice"}


@pytest.mark.parametrize("text", [
    '<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><r>&lol2;</r>',
    '<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>',
    '<!DOCTYPE r SYSTEM "http://127.0.0.1:9/evil.dtd"><r/>',
])
def test_parse_xml_refuses_dtds_and_entities(run_node, text):
    with pytest.raises(engine.NodeError,
                       match="^invalid XML: DTDs and entity declarations are not allowed$"):
        run_node("parse", {"input_type": "xml"}, text)


def test_parse_xml_refuses_deep_nesting(run_node):
    with pytest.raises(engine.NodeError, match="nest deeper than 256 levels"):
        run_node("parse", {"input_type": "xml"}, "<a>" * 300 + "</a>" * 300)


def test_parse_malformed_xml_fails(run_node):
    with pytest.raises(engine.NodeError, match="^invalid XML: mismatched tag"):
        run_node("parse", {"input_type": "xml"}, "<a><b></a>")


# -- parse: AUTO ------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "expected"), [
    ('{"a": 1}', {"a": 1}),
    ("<a>1</a>", {"a": 1}),
    ("name: Alice\nage: 30", {"name": "Alice", "age": 30}),
    ("a,b\n1,2", [{"a": 1, "b": 2}]),
    ("a\tb\n1\t2", [{"a": 1, "b": 2}]),
    ("3.5", 3.5),
])
def test_parse_auto_detects_the_format(run_node, text, expected):
    assert run_node("parse", {}, text) == expected


def test_parse_needs_an_input(run_node):
    with pytest.raises(engine.NodeError, match="^parse node requires input$"):
        run_node("parse", {})


def test_parse_rejects_an_unknown_input_type(load_problems):
    assert load_problems("parse", {"input_type": "TOML"}) == [
        {"path": "$.nodes[0].data.input_type",
         "message": "invalid input_type: TOML (must be one of auto, json, csv, tsv, yaml, "
                    "xml)"}]


_PARSERS = {kind: Workflow.load({"nodes": [{"id": "p", "type": "parse",
                                             "data": {"input_type": kind}}]}).nodes[0]
            for kind in ("auto", "json", "csv", "tsv", "yaml", "xml")}
_PIECES = st.sampled_from([*'{}[]<>/:,"\'\t\n -&;!#*?|%@=ab01.eE', "<a>", "</a>", "&a",
                           "*a", "&x ", "- ", ": ", "<!DOCTYPE a>", "!!str ", "null"])


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(_PARSERS)), st.lists(_PIECES, max_size=30).map("".join))
def test_parse_of_any_text_gives_json_or_a_node_error(kind, text):
    try:
        result = _PARSERS[kind].run([text], NodeContext(Run("t", Limits(), {}, None, None), "p"))
    except engine.NodeError:
        return
    json.dumps(result, allow_nan=False)


# -- format -----------------------------------------------------------------------------------
def test_format_json_is_compact_by_default(run_node):
    assert run_node("format", {}, {"name": "Ada", "age": 30, "tags": ["é"]}) == \
        '{"age":30,"name":"Ada","tags":["é"]}'


def test_format_json_writes_what_go_writes(run_node):
    # Thaiyyal's format node is Go's encoding/json: keys sorted, 2.0 as 2, <>& escaped
    assert run_node("format", {}, {"b": 2.0, "a": "<a&b>", "c": 1.5}) == \
        '{"a":"\\u003ca\\u0026b\\u003e","b":2,"c":1.5}'


def test_format_json_pretty_print(run_node):
    assert run_node("format", {"output_type": "JSON", "pretty_print": True}, {"a": [1]}) == \
        '{\n  "a": [\n    1\n  ]\n}'


def test_format_csv_sorts_headers_and_writes_cells(run_node):
    rows = [{"name": "Alice", "age": 30, "ok": True},
            {"name": "Bob, Jr.", "age": 2.5, "extra": {"k": [1]}, "ok": None}]
    assert run_node("format", {"output_type": "csv"}, rows) == (
        'age,extra,name,ok\n30,,Alice,true\n2.5,"{""k"":[1]}","Bob, Jr.",\n')


def test_format_csv_without_headers_and_with_a_delimiter(run_node):
    data = {"output_type": "CSV", "include_headers": False, "delimiter": "|"}
    assert run_node("format", data, [{"a": 1, "b": 2.0}]) == "1|2\n"


def test_format_tsv_of_a_single_object(run_node):
    assert run_node("format", {"output_type": "tsv", "delimiter": ";"}, {"b": "x", "a": 1}) == \
        "a\tb\n1\tx\n"


def test_format_csv_of_an_empty_array_is_empty(run_node):
    assert run_node("format", {"output_type": "csv"}, []) == ""


@pytest.mark.parametrize(("value", "message"), [
    ([{"a": 1}, 2], "CSV formatting requires array of objects, got array element of type number"),
    ("text", "CSV formatting requires array of objects or single object, got string"),
])
def test_format_csv_needs_objects(run_node, value, message):
    with pytest.raises(engine.NodeError, match=f"^{message}$"):
        run_node("format", {"output_type": "csv"}, value)


def test_format_json_refuses_nan(run_node):
    with pytest.raises(engine.NodeError, match="^failed to format as JSON: "):
        run_node("format", {}, [float("nan")])


def test_format_needs_an_input(run_node):
    with pytest.raises(engine.NodeError, match="^format node requires input$"):
        run_node("format", {})


def test_format_respects_max_string_length(run_node):
    with pytest.raises(engine.LimitExceeded, match="max_string_length=10"):
        run_node("format", {}, ["0123456789"], limits=Limits(max_string_length=10))


@pytest.mark.parametrize(("data", "path", "message"), [
    ({"output_type": "XML"}, "output_type",
     "unsupported output type: XML (must be one of json, csv, tsv)"),
    ({"output_type": "csv", "delimiter": '"'}, "delimiter", "delimiter cannot be '\"'"),
    ({"pretty_print": "yes"}, "pretty_print", "must be a boolean, got string"),
])
def test_format_configuration_problems(load_problems, data, path, message):
    assert load_problems("format", data) == [
        {"path": f"$.nodes[0].data.{path}", "message": message}]


# -- end to end -------------------------------------------------------------------------------
def test_csv_round_trip_through_filter_end_to_end(chain):
    payload = chain(
        ("t", "text_input", {"text": "product,sales\nWidget,100\nGadget,75\nGizmo,120"}),
        ("p", "parse", {"input_type": "CSV"}),
        ("f", "filter", {"condition": "item.sales >= 100"}),
        ("x", "expression", {"expression": "input.filtered"}),
        ("o", "format", {"output_type": "CSV"}),
    )
    result = engine.execute(payload)
    assert result.status == "succeeded", result.errors
    assert result.final_output == "product,sales\nWidget,100\nGizmo,120\n"
