"""The expression language: syntax, precedence, value rules, functions, errors, limits and
the batch entry points (filter/map/reduce)."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta

import pytest

from engine.errors import ExpressionError, ExpressionSyntaxError, LimitExceeded
from engine.expressions import Expression, Scope, compile_expression


@pytest.fixture
def scope() -> Scope:
    return Scope(
        variables={"count": 5, "names": ["ann", "bob"], "user": {"name": "Ann", "age": 30}},
        context={"maxValue": 50, "env": "prod"},
        nodes={"http-1": {"body": {"items": [1, 2, 3]}, "status": 200},
               "calc_2": {"value": 42}, "n1": 7},
    )


def run(text: str, scope: Scope | None = None, **names: object) -> object:
    return compile_expression(text).evaluate(scope or Scope(), **names)


def fails(text: str, scope: Scope | None = None, **names: object) -> str:
    with pytest.raises(ExpressionError) as caught:
        run(text, scope, **names)
    return str(caught.value)


def syntax_error(text: str) -> ExpressionSyntaxError:
    with pytest.raises(ExpressionSyntaxError) as caught:
        compile_expression(text)
    return caught.value


# -- the public API --------------------------------------------------------------------------

def test_compile_returns_expression_with_source() -> None:
    expr = compile_expression("item % 3 == 0")
    assert isinstance(expr, Expression)
    assert expr.source == "item % 3 == 0"
    assert "item % 3 == 0" in repr(expr)


def test_compiling_the_same_text_twice_reuses_the_compiled_expression() -> None:
    assert compile_expression("input + 41") is compile_expression("input + 41")


def test_node_refs_lists_node_ids_read_by_the_expression() -> None:
    expr = compile_expression('node.http-1.status == 200 && node["calc 2"].value > node.n1')
    assert expr.node_refs == frozenset({"http-1", "calc 2", "n1"})


def test_evaluate_without_item_treats_input_as_item() -> None:
    assert run("item.age", input={"age": 3}) == 3
    assert run("age", input={"age": 3}) == 3


def test_evaluate_with_item_reads_input_as_the_item_like_thaiyyal() -> None:
    assert run("item + input", input=10, item=1) == 2
    assert run("index * 10 + items.length", item="x", index=2, items=[1, 2, 3]) == 23
    assert run("accumulator + item", item=2, accumulator=40) == 42


def test_a_compiled_expression_can_be_evaluated_many_times_with_different_values() -> None:
    expr = compile_expression("item.price * item.qty")
    scope = Scope()
    assert [expr.evaluate(scope, item={"price": p, "qty": 2}) for p in (1, 2.5, "3")] == [2, 5.0, 6]


# -- precedence and grouping -----------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("1 + 2 * 3", 7),
    ("(1 + 2) * 3", 9),
    ("10 - 4 - 3", 3),
    ("2 * 3 % 4", 2),
    ("100 / 10 / 5", 2),
    ("-2 * 3", -6),
    ("-(2 + 3)", -5),
    ("- -4", 4),
    ("!true || true", True),
    ("true || false && false", True),
    ("(true || false) && false", False),
    ("1 + 1 == 2 && 3 > 2", True),
    ("1 < 2 == true", True),
    ("true ? 1 : 2 + 10", 1),
    ("false ? 1 : true ? 2 : 3", 2),
    ("1 > 2 ? 'a' : 'b'", "b"),
    ("2 + 3 > 4 ? 10 * 2 : 0", 20),
    ("!0 && !''", True),
    ("1 + 2 + 'x' + 1 + 2", "3x12"),
])
def test_operators_follow_javascript_precedence(text: str, expected: object) -> None:
    assert run(text) == expected


# -- literals --------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("42", 42), ("2.5", 2.5), ("1e3", 1000), ("1.5e-3", 0.0015), (".5", 0.5),
    ("'single'", "single"), ('"double"', "double"), (r"'it\'s'", "it's"),
    (r'"a\"b"', 'a"b'), (r"'tab\there'", "tab\there"), (r"'line\nbreak'", "line\nbreak"),
    (r"'\x41\u0042\u{1F600}'", "AB\U0001F600"), (r"'back\\slash'", "back\\slash"),
    (r"'\q'", "q"), ("true", True), ("false", False), ("null", None), ("undefined", None),
    ("[1, 'a', [true, null]]", [1, "a", [True, None]]), ("[]", []),
])
def test_literals(text: str, expected: object) -> None:
    assert run(text) == expected


def test_integers_beyond_the_safe_range_become_floats_like_javascript() -> None:
    assert run("123456789012345678") == 123456789012345678.0
    assert isinstance(run("123456789012345678"), float)


# -- arithmetic ------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("7 / 2", 3.5),
    ("6 / 3", 2),
    ("-7 % 3", -1),
    ("7 % -3", 1),
    ("5.5 % 2", 1.5),
    ("-5.5 % 2", -1.5),
    ("0.1 + 0.2", 0.1 + 0.2),
    ("'a' + 1", "a1"),
    ("1 + '2'", "12"),
    ("'x' + 1.5", "x1.5"),
    ("'x' + 2.0", "x2"),
    ("'x' + true + null", "xtruenull"),
    ("'list: ' + [1, [2, 3], null]", "list: 1,2,3,"),
    ("'obj: ' + item", "obj: [object Object]"),
    ("'6' * 2", 12),
    ("'6' - '2'", 4),
    ("'7' % 4", 3),
    ("'9' / 3", 3),
    ("-'3'", -3),
    ("+'3.5'", 3.5),
    ("item * 3", 3.75),
    ("item.n * item.n", 10**14),
])
def test_arithmetic_has_javascript_semantics(text: str, expected: object) -> None:
    item = {"n": 10**7} if "item.n" in text else ({} if "obj" in text else 1.25)
    assert run(text, item=item) == expected


def test_large_products_become_floats_instead_of_growing_without_bound() -> None:
    big = 2**40
    result = run("item * item", item=big)
    assert result == float(big * big)
    assert isinstance(result, float)
    assert isinstance(run("item * 1000", item=2**52), float)


@pytest.mark.parametrize(("text", "message"), [
    ("1 / 0", "division by zero"),
    ("item / 0", "division by zero"),
    ("1 % 0", "modulo by zero"),
    ("null + 1", "cannot add null and number"),
    ("[1] + [2]", "cannot add array and array"),
    ("true + 1", "cannot add boolean and number"),
    ("'abc' * 2", "expected a number, got the string 'abc'"),
    ("null - 1", "'-': expected a number, got null"),
    ("[] * 2", "'*': expected a number, got array"),
    ("-'x'", "unary '-': expected a number"),
    ("1e308 * 10", "not a finite number"),
])
def test_arithmetic_errors_say_what_went_wrong(text: str, message: str) -> None:
    assert message in fails(text, item=5)


# -- comparison and equality -----------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("'18' == 18", True),
    ("18 == '18.0'", True),
    ("'18' == '18.0'", False),
    ("'abc' == 'abc'", True),
    ("1 == 1.0", True),
    ("null == null", True),
    ("null == 0", False),
    ("null == ''", False),
    ("true == 1", False),
    ("true == true", True),
    ("false != 0", True),
    ("[1, 2] == [1, 2]", True),
    ("[1, 2] == [2, 1]", False),
    ("item == item", True),
    ("1 === 1", True),
    ("1 !== '1'", False),
    ("'10' < '9'", False),
    ("'10' > 9", True),
    ("'abc' < 'abd'", True),
    ("'b' >= 'a'", True),
    ("'2024-01-02T00:00:00.000Z' > '2024-01-01T23:59:59.999Z'", True),
    ("null < 1", False),
    ("null >= 0", False),
    ("'abc' < 5", False),
    ("[1] < [2]", False),
    ("2 <= 2", True),
    ("3 >= 4", False),
])
def test_comparisons_follow_thaiyyal_rules(text: str, expected: bool) -> None:
    assert run(text, item={"a": [1, {"b": None}]}) is expected


@pytest.mark.parametrize("value", [0, 1, -1, 2.5, "1", "x", "", None, True, False, [], [1], {}])
def test_comparison_fast_paths_agree_with_the_general_rules(value: object) -> None:
    # `item == 1` compiles to a native fast path for ints; `item == x` goes through the
    # general helper. Both must agree for every kind of value.
    for op in ("==", "!=", "<", "<=", ">", ">="):
        fast = run(f"item {op} 1", item=value)
        general = run(f"item {op} accumulator", item=value, accumulator=1)
        assert fast == general, (op, value)


def test_equality_with_string_literal_compares_numeric_strings_as_numbers() -> None:
    assert run("item == '5'", item=5) is True
    assert run("item == 'five'", item=5) is False
    assert run("item != 'five'", item="five") is False


# -- logic and truthiness --------------------------------------------------------------------

@pytest.mark.parametrize(("value", "truthy"), [
    (0, False), (0.0, False), ("", False), (None, False), (False, False), (float("nan"), False),
    (1, True), (-1, True), ("0", True), ("false", True), ([], True), ({}, True), (True, True),
])
def test_truthiness_is_javascripts(value: object, truthy: bool) -> None:
    assert run("item ? 'yes' : 'no'", item=value) == ("yes" if truthy else "no")
    assert run("!item", item=value) is (not truthy)
    assert compile_expression("item").filter([value], Scope())[0] == ([value] if truthy else [])


def test_and_or_return_an_operand_like_javascript() -> None:
    assert run("item.name || 'anonymous'", item={}) == "anonymous"
    assert run("item.name || 'anonymous'", item={"name": "ann"}) == "ann"
    assert run("item.a && item.a.b", item={}) is None
    assert run("item.a && item.a.b", item={"a": {"b": 2}}) == 2
    assert run("0 || ''") == ""
    assert run("[] && 'arrays are truthy'") == "arrays are truthy"
    assert run("item || 'x'", item=[]) == []


def test_and_or_short_circuit() -> None:
    # The right side would fail; it is never evaluated.
    assert run("false && 1 / 0 == 1") is False
    assert run("true || 1 / 0 == 1") is True
    assert run("item.a && item.a.b.c", item={"a": None}) is None
    assert run("true ? 1 : 1 / 0") == 1


# -- reading values --------------------------------------------------------------------------

def test_member_and_index_access() -> None:
    item = {"user": {"tags": ["a", "b"], "profile": {"verified": True}},
            "matrix": [[1, 2], [3, 4]], "odd key": 1}
    assert run("item.user.tags[1]", item=item) == "b"
    assert run("item.user.profile.verified", item=item) is True
    assert run("item.matrix[1][0]", item=item) == 3
    assert run("item['odd key']", item=item) == 1
    assert run("item['us' + 'er'].tags.length", item=item) == 2
    assert run("item.user['tags'][0]", item=item) == "a"
    assert run("item.matrix['1']", item=item) == [3, 4]
    assert run("'hello'[1]") == "e"


def test_missing_fields_and_positions_read_as_null() -> None:
    assert run("item.missing", item={}) is None
    assert run("item.tags[5]", item={"tags": [1]}) is None
    assert run("item.tags[-1]", item={"tags": [1]}) is None
    assert run("item.tags[0.5]", item={"tags": [1]}) is None
    assert run("isNull(item.missing)", item={}) is True


def test_length_of_strings_arrays_and_objects() -> None:
    assert run("'héllo'.length") == 5
    assert run("item.length", item=[1, 2, 3]) == 3
    assert run("item.tags.length * 2", item={"tags": ["a", "b"]}) == 4
    assert run("item.length", item={"length": 9}) == 9
    assert run("item.length", item={}) is None
    assert run("item['length']", item=[1, 2]) == 2


@pytest.mark.parametrize(("text", "item", "message"), [
    ("item.a.b", {}, "cannot read field 'b' of null"),
    ("item.a.b", {"a": 5}, "cannot read field 'b' of number"),
    ("item.name.first", {"name": "x"}, "cannot read field 'first' of string"),
    ("item[0]", None, "cannot read [0] of null"),
    ("item[0]", 12, "cannot read [0] of number"),
    ("item.x.length", {}, "cannot read field 'length' of null"),
    ("item[[1]]", {}, "cannot use array as a field name"),
])
def test_reading_from_a_non_object_is_an_error(text: str, item: object, message: str) -> None:
    assert message in fails(text, item=item)


def test_bare_names_read_fields_of_the_item_then_the_input() -> None:
    assert run("age >= 18 && name == 'Ann'", input={"age": 20, "name": "Ann"}) is True
    assert run("age", input={"age": 1}, item={"age": 2}) == 2
    assert run("profile.verified", item={"profile": {"verified": True}}) is True
    message = fails("agee > 18", item={"age": 20})
    assert "unknown name 'agee'" in message
    assert "item.agee" in message
    assert "unknown name 'x'" in fails("x", input=5)


def test_scope_values(scope: Scope) -> None:
    assert run("variables.count * 2", scope) == 10
    assert run("variables.user.name", scope) == "Ann"
    assert run("variables['names'][1]", scope) == "bob"
    assert run("context.maxValue > 10 && context.env == 'prod'", scope) is True
    assert run("node.http-1.body.items[2]", scope) == 3
    assert run("node.http-1.status == 200", scope) is True
    assert run("node.calc_2.value + 1", scope) == 43
    assert run("node['http-1'].status", scope) == 200
    assert run("node.n1 - 1", scope) == 6
    assert run("node.n1 -1", scope) == 6
    assert run("variables.missing", scope) is None
    assert run("node.never_ran", scope) is None
    assert "cannot read field 'x' of null" in fails("node.never_ran.x", scope)


def test_scope_mappings_are_read_live(scope: Scope) -> None:
    variables: dict[str, object] = {}
    live = Scope(variables=variables)
    expr = compile_expression("variables.x")
    assert expr.evaluate(live) is None
    variables["x"] = 1
    assert expr.evaluate(live) == 1


def test_a_field_named_node_is_not_the_node_scope() -> None:
    assert run("item.node.a-1", item={"node": {"a": 5}}) == 4


# -- the comparison shorthand ----------------------------------------------------------------

@pytest.mark.parametrize(("text", "value", "expected"), [
    (">=18", 20, True),
    (">= 18", 17, False),
    (">18", {"value": 19}, True),
    ("<5", {"value": 7, "other": 1}, False),
    ("== 'x'", "x", True),
    ('== "x"', {"value": "y"}, False),
    ("!= 0", 0, False),
    ("<= 10", "9", True),
    ("> 1 && item.value < 10", {"value": 5}, True),
    ("=== 3", 3, True),
])
def test_shorthand_compares_the_input(text: str, value: object, expected: bool) -> None:
    assert run(text, input=value) is expected


def test_shorthand_in_a_filter_compares_each_item() -> None:
    kept, errors = compile_expression(">= 18").filter([{"value": 30}, 10, 18, "40"], Scope())
    assert kept == [{"value": 30}, 18, "40"]
    assert errors == 0


# -- functions -------------------------------------------------------------------------------

USERS = [{"name": "alice", "age": 30, "score": 85.5},
         {"name": "bob", "age": 25, "score": 92.3},
         {"name": "charlie", "age": 35, "score": 78.9}]


@pytest.mark.parametrize(("text", "expected"), [
    ("pow(2, 10)", 1024),
    ("pow(2, -1)", 0.5),
    ("pow(4, 0.5)", 2),
    ("pow('3', 2)", 9),
    ("sqrt(16)", 4),
    ("sqrt(2)", math.sqrt(2)),
    ("abs(-3)", 3),
    ("abs(-2.5)", 2.5),
    ("abs([-1, 2, -3])", [1, 2, 3]),
    ("floor(3.7)", 3),
    ("floor(-3.2)", -4),
    ("floor([3.9, 4.1])", [3, 4]),
    ("ceil(3.2)", 4),
    ("ceil([3.1, 4.0])", [4, 4]),
    ("round(2.5)", 3),
    ("round(-2.5)", -2),
    ("round(2.4)", 2),
    ("round([3.2, 4.7, 5.5])", [3, 5, 6]),
    ("round(3.14159, 2)", 3.14),
    ("min(5, 2, 8, 1)", 1),
    ("min([2, 3, 1])", 1),
    ("max(5, 2, 8, 1)", 8),
    ("max(['2', 10])", 10),
    ("sum([1, 2, 3, 4])", 10),
    ("sum(1, 2, 3)", 6),
    ("sum([])", 0),
    ("avg([10, 20, 30])", 20),
    ("avg(1, 2)", 1.5),
    ("avg([])", 0),
])
def test_math_functions(text: str, expected: object) -> None:
    assert run(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("map(item, item.age)", [30, 25, 35]),
    ("map(item, item.name.toUpperCase())", ["ALICE", "BOB", "CHARLIE"]),
    ("map(item, index)", [0, 1, 2]),
    ("map(item, items.length)", [3, 3, 3]),
    ("map(item, item.age + input.length)", [33, 28, 38]),
    ("avg(map(item, item.age))", 30),
    ("round(avg(map(input, item.score)))", 86),
    ("sum(map(item, item.score))", 85.5 + 92.3 + 78.9),
    ("max(map(item, item.age))", 35),
    ("sort(map(item, item.age))", [25, 30, 35]),
    ("slice(map(item, item.age), 0, 2)", [30, 25]),
    ("filter(item, item.age > 28).length", 2),
    ("map(filter(item, item.age > 28), item.name)", ["alice", "charlie"]),
    ("map([[1, 2], [3]], sum(item))", [3, 3]),
    ("map([[1, 2], [3]], map(item, item * 10))", [[10, 20], [30]]),
])
def test_map_and_filter_see_each_element_as_item(text: str, expected: object) -> None:
    assert run(text, input=USERS) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("sort([3, 1, 2])", [1, 2, 3]),
    ("sort(['charlie', 'alice', 'bob'])", ["alice", "bob", "charlie"]),
    ("sort([1, 3, 2], 'desc')", [3, 2, 1]),
    ("sort([])", []),
    ("slice([1, 2, 3, 4, 5], 2)", [3, 4, 5]),
    ("slice([1, 2, 3, 4, 5], 1, 4)", [2, 3, 4]),
    ("slice([1, 2, 3, 4, 5], -2)", [4, 5]),
    ("slice([1, 2, 3, 4, 5], 1, -1)", [2, 3, 4]),
    ("slice('hello', 1, 3)", "el"),
    ("'hello'.slice(-3)", "llo"),
    ("unique([1, 2, 2, 3, 1])", [1, 2, 3]),
    ("unique(['a', 'b', 'a'])", ["a", "b"]),
    ("unique([1, 1.0, true, '1', null, null])", [1, True, None]),
    ("unique([[1], [1], [1, 1]])", [[1], [1, 1]]),
    ("zip([1, 2, 3], ['a', 'b', 'c'])", [[1, "a"], [2, "b"], [3, "c"]]),
    ("zip([1, 2], [3])", [[1, 3], [2, None]]),
    ("reverse([1, 2, 3])", [3, 2, 1]),
    ("reverse('abc')", "cba"),
    ("flatten([[1, 2], [3, [4, [5]]], 6])", [1, 2, 3, 4, 5, 6]),
    ("flatten([])", []),
    ("first([4, 5])", 4),
    ("last([4, 5])", 5),
    ("first([])", None),
    ("[4, 5].last()", 5),
    ("'abc'.first()", "a"),
    ("join(['a', 'b'], '-')", "a-b"),
    ("['a', 1, null, true].join()", "a,1,,true"),
    ("[1, 2].join(0)", "102"),
])
def test_array_functions(text: str, expected: object) -> None:
    assert run(text) == expected


def test_unique_treats_equal_objects_as_one() -> None:
    assert run("unique(item)", item=[{"a": 1, "b": 2}, {"b": 2, "a": 1}, {"a": 2}]) == [
        {"a": 1, "b": 2}, {"a": 2}]


def test_sample_returns_elements_of_the_array() -> None:
    values = [1, 2, 3, 4]
    for _ in range(20):
        assert run("sample(item)", item=values) in values
        picked = run("sample(item, 2)", item=values)
        assert len(picked) == 2
        assert len(set(picked)) == 2
        assert set(picked) <= set(values)
    assert run("sample([])") is None
    assert sorted(run("sample([1, 2], 5)")) == [1, 2]


@pytest.mark.parametrize(("text", "expected"), [
    ("'Hello'.toUpperCase()", "HELLO"),
    ("'Hello'.toLowerCase()", "hello"),
    ("toUpperCase('x')", "X"),
    ("upper('x') + lower('Y')", "Xy"),
    ("'  pad  '.trim()", "pad"),
    ("'hello'.includes('ell')", True),
    ("'hello'.includes('xyz')", False),
    ("'a1'.includes(1)", True),
    ("[1, 2, 3].includes(2)", True),
    ("[1, 2, 3].includes('2')", True),
    ("[[1]].includes([1])", True),
    ("'hello'.startsWith('he')", True),
    ("'hello'.endsWith('lo')", True),
    ("'hello'.endsWith('he')", False),
    ("'a-b-c'.replace('-', '+')", "a+b+c"),
    ("'a-b-c'.replaceAll('-', '')", "abc"),
    ("'abc'.replace('', '.')", ".a.b.c."),
    ("'a,b,c'.split(',')", ["a", "b", "c"]),
    ("'abc'.split('')", ["a", "b", "c"]),
    ("'abc'.split()", ["abc"]),
    ("split('1 2', ' ')", ["1", "2"]),
    ("'a,b'.split(',').join(';')", "a;b"),
    ("item.name.trim().toUpperCase().startsWith('AN')", True),
    ("(12).toString() + [1, 2].toString() + toString(null)", "121,2null"),
    ("(2.5).toFixed(0)", "3"),
    ("(1.005).toFixed(2)", "1.00"),
    ("(3.14159).toFixed(3)", "3.142"),
    ("(-1.5).toFixed()", "-2"),
    ("(7).toFixed(2)", "7.00"),
    ("contains('hello world', 'world')", True),
    ("contains('hello', 'xyz')", False),
    ("contains([1, 2], 2)", True),
    ("contains(item.missing, 'x')", False),
    ("contains(item, 'name')", True),
    ("contains(12345, 234)", True),
    ("contains(null, 'x')", False),
    ("isNull(null)", True),
    ("isNull(0)", False),
    ("coalesce(null, item.missing, 'x', 'y')", "x"),
    ("coalesce(null)", None),
])
def test_string_and_null_functions(text: str, expected: object) -> None:
    assert run(text, item={"name": "  ann "}) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("parseDate('2024-05-01')", "2024-05-01T00:00:00.000Z"),
    ("parseDate('2024-05-01 12:30:00')", "2024-05-01T12:30:00.000Z"),
    ("parseDate('2024-05-01T12:30:00+02:00')", "2024-05-01T10:30:00.000Z"),
    ("parseDate('Wed, 01 May 2024 12:30:00 GMT')", "2024-05-01T12:30:00.000Z"),
    ("parseDate(0)", "1970-01-01T00:00:00.000Z"),
    ("toEpoch('2024-05-01T00:00:00Z')", 1714521600),
    ("toEpoch(1714521600)", 1714521600),
    ("toEpochMillis('1970-01-01T00:00:01.5Z')", 1500),
    ("fromEpoch(1714521600)", "2024-05-01T00:00:00.000Z"),
    ("fromEpochMillis(1500)", "1970-01-01T00:00:01.500Z"),
    ("dateAdd('2024-01-01', 3600)", "2024-01-01T01:00:00.000Z"),
    ("dateAdd('2024-01-01', -86400)", "2023-12-31T00:00:00.000Z"),
    ("dateDiff('2024-01-02', '2024-01-01')", 86400),
    ("dateDiff('2024-01-01T00:00:00.5Z', '2024-01-01')", 0.5),
    ("year('2024-05-01T10:20:30Z')", 2024),
    ("month('2024-05-01T10:20:30Z')", 5),
    ("day('2024-05-01T10:20:30Z')", 1),
    ("hour('2024-05-01T10:20:30Z')", 10),
    ("minute('2024-05-01T10:20:30Z')", 20),
    ("second('2024-05-01T10:20:30Z')", 30),
    ("dateAdd('2024-01-01', 60) > '2024-01-01'", True),
    ("toEpoch(parseDate('2024-05-01')) == toEpoch('2024-05-01')", True),
])
def test_date_functions(text: str, expected: object) -> None:
    assert run(text) == expected


def test_now_is_the_current_time_as_an_iso_string() -> None:
    value = run("now()")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", value)
    moment = datetime.fromisoformat(value)
    assert abs(moment - datetime.now(UTC)) < timedelta(seconds=5)
    assert run("dateDiff(now(), '2020-01-01') > 0") is True


@pytest.mark.parametrize(("text", "message"), [
    ("sqrt(-1)", "sqrt(): the number is negative"),
    ("pow(10, 400)", "pow(): result is too large"),
    ("pow(-8, 0.5)", "is not a real number"),
    ("min([])", "min(): no numbers given"),
    ("max('a', 1)", "max(): expected a number, got the string 'a'"),
    ("sum([1, 'x'])", "sum(): expected a number"),
    ("map(5, item)", "map(): expected an array, got number"),
    ("sort([1, 'a'])", "sort(): the array must hold only numbers or only strings"),
    ("sort([1], 'up')", "sort(): the order must be"),
    ("slice(5, 1)", "slice(): expected an array, got number"),
    ("slice([1], 'a')", "slice(): expected a number"),
    ("sample([1], -1)", "sample(): the count must not be negative"),
    ("zip([1], 2)", "zip(): expected an array, got number"),
    ("(5).toUpperCase()", "toUpperCase(): expected a string, got number"),
    ("'x'.startsWith(null)", "startsWith(): expected a string, got null"),
    ("[1].trim()", "trim(): expected a string, got array"),
    ("'a'.join(',')", "join(): expected an array, got string"),
    ("parseDate('not a date')", "parseDate(): not a date: 'not a date'"),
    ("year(true)", "year(): expected a date, got boolean"),
    ("fromEpoch(1e20)", "fromEpoch(): 1e+20 is outside the supported dates"),
    ("dateAdd('9999-12-31', 86400)", "dateAdd(): the date is outside the supported range"),
    ("round(1, 99)", "round(): digits must be between 0 and 15"),
    ("'abc'.toFixed(2)", "toFixed(): expected a number, got string"),
    ("(1).toFixed(50)", "toFixed(): digits must be between 0 and 20"),
])
def test_function_errors_name_the_function_and_the_problem(text: str, message: str) -> None:
    assert message in fails(text)


# -- syntax errors ---------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "column", "reason"), [
    ("", 1, "empty expression"),
    ("   ", 1, "empty expression"),
    ("1 +", 4, "expected a value"),
    ("(1 + 2", 7, "expected ')' to close '('"),
    ("1 + 2)", 6, "unexpected ')'"),
    ("[1, 2", 6, "expected ']' to close the array"),
    ("'abc", 1, "unterminated string"),
    ("x + 'abc", 5, "unterminated string"),
    ("a = 1", 3, "use == to compare"),
    ("a & b", 3, "use && for 'and'"),
    ("a | b", 3, "use || for 'or'"),
    ("2 ** 3", 3, "use pow(a, b)"),
    ("a ?? b", 3, "use coalesce(a, b)"),
    ("a?.b", 2, "'?.' is not supported"),
    ("x => x", 3, "arrow functions are not supported"),
    ("`x`", 1, "template strings are not supported"),
    ("{a: 1}", 1, "object literals are not supported"),
    ("1 # 2", 3, "unexpected character '#'"),
    ("foo(1)", 1, "unknown function 'foo'"),
    ("sqr(4)", 1, "did you mean sqrt?"),
    ("item.foo()", 6, "unknown method 'foo'"),
    ("item.sum()", 6, "'sum' is a function, not a method"),
    ("pow(1)", 1, "pow() takes 2 arguments, got 1"),
    ("now(1)", 1, "now() takes 0 arguments, got 1"),
    ("min()", 1, "min() takes at least 1 argument, got 0"),
    ("slice([1])", 1, "slice() takes 2 to 3 arguments, got 1"),
    ("'x'.trim(1)", 5, ".trim() takes 0 arguments, got 1"),
    ("item.", 6, "expected a field name after '.'"),
    ("item.5", 5, "unexpected number 0.5"),
    ("3abc", 1, "invalid number"),
    ("1e999", 1, "out of range"),
    ("variables", 10, "'variables' must be followed by .name or [key]"),
    ("context + 1", 9, "'context' must be followed by .name or [key]"),
    ("item(1)", 5, "'item' is not a function"),
    ("(1)(2)", 4, "only named functions can be called"),
    ("a ? b", 6, "expected ':' in 'condition ? a : b'"),
    ("1 2", 3, "unexpected number 2"),
    ("this", 1, "'this' is a JavaScript keyword"),
    ("new Date()", 1, "'new' is a JavaScript keyword"),
    ("item.__proto__", 6, "names starting with '__' are not allowed"),
    (r"'\u12'", 2, "invalid escape sequence"),
    (r"'\x4'", 2, "invalid escape sequence"),
    (r"'\u{110000}'", 2, "invalid escape sequence"),
    ("1 +\n+", 6, "expected a value"),
])
def test_syntax_errors_give_a_reason_and_a_column(text: str, column: int, reason: str) -> None:
    error = syntax_error(text)
    assert reason in error.reason
    assert error.column == column
    assert str(error).endswith(f"at column {column}")


def test_a_non_string_expression_is_a_syntax_error() -> None:
    for value in (None, 5, ["x"]):
        with pytest.raises(ExpressionSyntaxError):
            compile_expression(value)  # type: ignore[arg-type]


def test_reserved_words_are_fine_as_field_names() -> None:
    assert run("item.class + item.new", item={"class": 1, "new": 2}) == 3


# -- limits ----------------------------------------------------------------------------------

def test_expression_length_is_limited() -> None:
    assert compile_expression("1" + " + 1" * 90).evaluate(Scope()) == 91
    error = syntax_error("1" * 10_001)
    assert "too long" in error.reason
    assert "10000" in error.reason


def test_nesting_is_limited() -> None:
    assert run("(" * 90 + "1" + ")" * 90) == 1
    error = syntax_error("(" * 150 + "1" + ")" * 150)
    assert "nested too deeply" in error.reason
    assert "nested too deeply" in syntax_error("-" * 500 + "1").reason
    assert "nested too deeply" in syntax_error("!" * 500 + "true").reason
    assert "nested too deeply" in syntax_error("abs(" * 150 + "1" + ")" * 150).reason
    assert "nested too deeply" in syntax_error("[" * 150 + "]" * 150).reason
    assert "nested too deeply" in syntax_error("1" + " + 1" * 150).reason


def test_expressions_near_the_depth_limit_compile_and_run() -> None:
    # 99 levels of guarded operators: deeper than Python allows in one expression, so the
    # compiler splits it; the result must still be right.
    assert run("item" + " + 1" * 98, item=0) == 98
    assert run("item" + " * 1" * 98, item=3) == 3
    assert run("item.a" + " - item.a" * 98, item={"a": 1}) == -97
    assert run("abs(" * 95 + "item" + ")" * 95, item=-2) == 2
    nested = "item"
    for _ in range(45):
        nested = f"(item.x ? {nested} : 0)"
    assert run(nested, item={"x": 1}) == {"x": 1}


def test_strings_built_by_an_expression_are_bounded() -> None:
    small = Scope(max_string_length=10)
    assert run("'12345' + '12345'", small) == "1234512345"
    for text in ("'12345' + '123456'", "'x' + [1234567890]", "'abcdef'.replace('a', 'aaaaaa')",
                 "['aaaaa', 'bbbbbb'].join('')", "'ß' + 'ßßßßß'.toUpperCase()",
                 "'1234567890' + 1"):
        message = fails(text, small)
        assert "max_string_length=10" in message, text


def test_arrays_built_by_an_expression_are_bounded() -> None:
    small = Scope(max_array_length=3)
    assert run("'a,b,c'.split(',')", small) == ["a", "b", "c"]
    for text in ("'a,b,c,d'.split(',')", "'abcd'.split('')", "flatten([[1, 2], [3, 4]])",
                 "zip([1, 2, 3, 4], [1])", "map([1, 2, 3, 4], item)"):
        assert "max_array_length=3" in fails(text, small), text


def test_concatenation_blowup_in_a_reduce_stops_at_the_string_limit() -> None:
    expr = compile_expression("accumulator + accumulator")
    with pytest.raises(ExpressionError, match="max_string_length=1024"):
        expr.reduce(list(range(100)), "ab", Scope(max_string_length=1024))


def test_one_call_may_build_only_so_much_data_in_total() -> None:
    # Each string is within max_string_length=100, but one evaluation may build at most
    # 16 x 100 characters and array elements in total.
    small = Scope(max_string_length=100)
    expr = compile_expression("[" + ", ".join(["item + item"] * 20) + "]")
    with pytest.raises(LimitExceeded, match="built more than 16 times"):
        expr.evaluate(small, item="x" * 50)
    assert len(expr.evaluate(small, item="x" * 10)) == 20


def test_map_results_share_one_budget() -> None:
    expr = compile_expression("item + item")
    with pytest.raises(LimitExceeded, match="max_string_length=100"):
        expr.map(["x" * 40] * 30, Scope(max_string_length=100))


def test_filter_gives_each_item_its_own_budget() -> None:
    # Kept items are input items, so what the condition builds is dropped item by item.
    expr = compile_expression("(item + item).length == 80")
    kept, errors = expr.filter(["x" * 40] * 30, Scope(max_string_length=100))
    assert len(kept) == 30
    assert errors == 0


def test_reduce_gives_each_step_its_own_budget() -> None:
    # Concatenating 200 characters one by one builds 200 * 201 / 2 characters in total, but
    # only the accumulator is kept from one step to the next.
    expr = compile_expression("accumulator + item")
    assert expr.reduce(["a"] * 200, "", Scope(max_string_length=1000)) == "a" * 200


def test_long_work_checks_the_deadline() -> None:
    def out_of_time() -> None:
        raise LimitExceeded("max_execution_time", "1s")

    late = Scope(check_deadline=out_of_time)
    big = list(range(20_000))
    for text in ("sum(item)", "sort(item)", "map(item, item)", "unique(item)"):
        with pytest.raises(LimitExceeded):
            compile_expression(text).evaluate(late, item=big)
    with pytest.raises(LimitExceeded):
        compile_expression("item > 1").filter(big, late)


# -- filter, map and reduce ------------------------------------------------------------------

def test_filter_keeps_items_matching_expression() -> None:
    kept, errors = compile_expression("item % 3 == 0").filter(list(range(10)), Scope())
    assert kept == [0, 3, 6, 9]
    assert errors == 0


def test_filter_counts_items_whose_evaluation_fails_and_drops_them() -> None:
    items = [{"age": 20}, {"age": 10}, None, 5, {"age": "30"}, {"name": "no age"}]
    kept, errors = compile_expression("item.age >= 18").filter(items, Scope())
    assert kept == [{"age": 20}, {"age": "30"}]
    assert errors == 2  # None and 5 have no fields; a missing age is null, which is not >= 18


def test_filter_bare_names_fail_for_items_without_the_field() -> None:
    items = [{"age": 20}, {"name": "x"}, {"age": 5}]
    assert compile_expression("age > 18").filter(items, Scope()) == ([{"age": 20}], 1)


def test_filter_sees_index_items_and_input_as_the_item() -> None:
    values = ["a", "b", "c", "d"]
    assert compile_expression("index % 2 == 0").filter(values, Scope()) == (["a", "c"], 0)
    assert compile_expression("index < items.length - 1").filter(values, Scope())[0] == [
        "a", "b", "c"]
    assert compile_expression("input == 'c'").filter(
        values, Scope(), input={"wanted": "c"}) == (["c"], 0)


def test_filter_and_map_give_the_same_results_as_evaluating_each_item() -> None:
    items = [0, 1, -4, 2.5, "7", "x", None, True, [1], {"v": 1}, 10**20]
    for text in ("item % 3 == 0", "item * 2", "item + 1", "-item", "item > 1", "item == 1",
                 "item != 'x'", "item.v", "item && 'yes'", "item || 'no'"):
        expr = compile_expression(text)
        expected, failures = [], 0
        for position, value in enumerate(items):
            try:
                expected.append(expr.evaluate(Scope(), item=value, index=position, items=items))
            except ExpressionError:
                failures += 1
        assert expr.map(items, Scope()) == (expected, failures), text


def test_map_returns_results_and_failed_count() -> None:
    expr = compile_expression("item.price * 2")
    results, failed = expr.map([{"price": 1}, {"price": "x"}, {"price": 2.5}, 7], Scope())
    assert results == [2, 5.0]
    assert failed == 2


def test_map_with_index_and_items() -> None:
    assert compile_expression("item + index + items.length").map([10, 20], Scope()) == (
        [12, 23], 0)


def test_reduce_folds_with_accumulator() -> None:
    expr = compile_expression("accumulator + item")
    assert expr.reduce([1, 2, 3, 4], 0, Scope()) == 10
    assert expr.reduce(["a", "b"], "", Scope()) == "ab"
    assert expr.reduce([], 5, Scope()) == 5
    assert compile_expression("max(accumulator, item.v)").reduce(
        [{"v": 3}, {"v": 9}, {"v": 4}], 0, Scope()) == 9
    assert compile_expression("accumulator + index").reduce(["x", "y", "z"], 0, Scope()) == 3
    assert compile_expression("accumulator * input").reduce([2, 2, 2], 1, Scope(), input=9) == 8


def test_reduce_error_names_the_index_of_the_failing_item() -> None:
    expr = compile_expression("accumulator + item.n")
    with pytest.raises(ExpressionError) as caught:
        expr.reduce([{"n": 1}, {"n": 2}, 5, {"n": 3}], 0, Scope())
    assert "index 2" in str(caught.value)
    assert "cannot read field 'n' of number" in str(caught.value)


def test_deadline_errors_pass_through_filter_and_map_uncounted() -> None:
    calls = []

    def deadline() -> None:
        calls.append(1)
        if len(calls) > 1:
            raise LimitExceeded("max_execution_time", "1s")

    expr = compile_expression("sum(item)")
    with pytest.raises(LimitExceeded):
        expr.map([list(range(20_000))], Scope(check_deadline=deadline))


def test_the_full_pipeline_matches_python() -> None:
    data = list(range(10_000))
    scope = Scope()
    kept, _ = compile_expression("item % 3 == 0").filter(data, scope)
    doubled, _ = compile_expression("item * 2").map(kept, scope)
    total = compile_expression("accumulator + item").reduce(doubled, 0, scope)
    assert total == sum(x * 2 for x in data if x % 3 == 0)
