"""Escape attempts against the expression language.

The table translates to our syntax the tricks that broke other sandboxed expression
languages: n8n (JS `constructor.constructor`, `this`, `process.env`, prototype pollution),
simpleeval and asteval (dunder walks to `__subclasses__`, `__import__`, `getattr`,
`str.format` field lookups, exponent and repetition blowups). Every attempt must end in an
ExpressionSyntaxError or an ExpressionError with a readable message, and while they run an
audit hook checks that Python never imports, opens, spawns or compiles anything but our
own generated code. Hypothesis then fuzzes the compiler with random text and with random
well-formed expressions.
"""

from __future__ import annotations

import ast
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.errors import ExpressionError, ExpressionSyntaxError, LimitExceeded
from engine.expressions import Scope, compile_expression
from engine.expressions.compiler import FILENAME, batch_source, evaluate_source, generate
from engine.expressions.compiler import namespace as compiler_namespace
from engine.expressions.expression import INTERNAL
from engine.expressions.functions import FUNCTIONS, METHODS
from engine.expressions.parser import parse

# -- audit: nothing outside our generated code may happen while an expression runs --------

_recording = threading.local()


def _audit(event: str, args: tuple[Any, ...]) -> None:
    events = getattr(_recording, "events", None)
    if events is not None:
        events.append((event, args))


sys.addaudithook(_audit)

# Events an expression legitimately causes: compiling and running our generated source.
_OURS = {"compile", "exec"}


@contextmanager
def audited() -> Iterator[list[tuple[str, tuple[Any, ...]]]]:
    _recording.events = []
    try:
        yield _recording.events
    finally:
        events = _recording.events
        _recording.events = None
        for event, args in events:
            if event == "compile":
                assert args[1] == FILENAME, f"compiled something else: {args[1]!r}"
            elif event == "exec":
                assert args[0].co_filename == FILENAME, "executed foreign code"
            elif event not in _OURS and not event.startswith(("sys._getframe", "object.")):
                pytest.fail(f"expression caused Python audit event {event}{args!r:.200}")
            elif event.startswith("object."):
                pytest.fail(f"expression touched a restricted attribute: {event}{args!r:.200}")


def attempt(text: str, **names: Any) -> Exception:
    """Compile and evaluate `text`; return the error it must end in."""
    scope = Scope(variables={"secret": "s3cr3t"}, context={"env": "prod"},
                  nodes={"n1": {"value": 1}})
    names.setdefault("input", {"name": "ann", "items": [1, 2, 3]})
    with audited():
        try:
            expr = compile_expression(text)
            value = expr.evaluate(scope, **names)
        except (ExpressionSyntaxError, ExpressionError, LimitExceeded) as error:
            return error
    pytest.fail(f"{text!r} did not fail; it returned {value!r:.200}")


# (attempt, part of the message it must fail with)
ESCAPES = [
    # n8n / JavaScript sandbox escapes
    ("constructor.constructor('return process')()", "only named functions can be called"),
    ("item.constructor.constructor('return process')()", "only named functions can be called"),
    ("item.constructor.constructor('return process')", "unknown method 'constructor'"),
    ("[].constructor.constructor('return this')", "unknown method 'constructor'"),
    ("''.constructor", "cannot read field 'constructor' of string"),
    ("this", "'this' is a JavaScript keyword"),
    ("this.constructor", "'this' is a JavaScript keyword"),
    ("globalThis", "unknown name 'globalThis'"),
    ("globalThis.process.env", "unknown name 'globalThis'"),
    ("process.env.SECRET", "unknown name 'process'"),
    ("process.mainModule.require('child_process')", "unknown method 'require'"),
    ("require('child_process').execSync('id')", "unknown function 'require'"),
    ("import('fs')", "'import' is a JavaScript keyword"),
    ("new Function('return process')()", "'new' is a JavaScript keyword"),
    ("Function('return this')()", "only named functions can be called"),
    ("Function('return this')", "unknown function 'Function'"),
    ("eval('1 + 1')", "unknown function 'eval'"),
    ("item.__proto__", "names starting with '__' are not allowed"),
    ("item.__proto__.polluted = 1", "'=' is not supported: use == to compare"),
    ("item.__proto__.polluted == 1", "names starting with '__' are not allowed"),
    ("item.constructor.prototype.polluted = 1", "use == to compare"),
    ("Object.prototype.toString.call(item)", "unknown method 'call'"),
    ("Object.getPrototypeOf(item)", "unknown method 'getPrototypeOf'"),
    ("Reflect.get(item, 'x')", "unknown method 'get'"),
    ("item.__defineGetter__('x', 1)", "names starting with '__' are not allowed"),
    ("$('node').first()", "unknown function '$'"),
    ("$json.constructor.constructor('return process')", "unknown method 'constructor'"),
    ("(() => process)()", "arrow functions are not supported"),
    ("`${process.env}`", "template strings are not supported"),
    ("{}.constructor", "object literals are not supported"),
    ("item.toString.call(process)", "unknown method 'call'"),
    ("window.location", "unknown name 'window'"),
    # simpleeval / asteval: walking Python's object graph
    ('"".__class__.__mro__[1].__subclasses__()', "names starting with '__' are not allowed"),
    ("item.__class__", "names starting with '__' are not allowed"),
    ("(1).__class__.__base__.__subclasses__()", "names starting with '__' are not allowed"),
    ("__import__('os').system('id')", "names starting with '__' are not allowed"),
    ("__builtins__", "names starting with '__' are not allowed"),
    ("item.__dict__", "names starting with '__' are not allowed"),
    ("item.__globals__", "names starting with '__' are not allowed"),
    ("getattr(item, '__class__')", "unknown function 'getattr'"),
    ("setattr(item, 'x', 1)", "unknown function 'setattr'"),
    ("type(item)", "unknown function 'type'"),
    ("open('/etc/passwd').read()", "unknown function 'open'"),
    ("exec('import os')", "unknown function 'exec'"),
    ("compile('1', 'x', 'eval')", "unknown function 'compile'"),
    ("globals()", "unknown function 'globals'"),
    ("locals()", "unknown function 'locals'"),
    ("vars(item)", "unknown function 'vars'"),
    ("dir(item)", "unknown function 'dir'"),
    ("breakpoint()", "unknown function 'breakpoint'"),
    ("input()", "'input' is not a function"),
    ("item.items()", "unknown method 'items'"),
    ("item.keys()", "unknown method 'keys'"),
    ("item.get('name')", "unknown method 'get'"),
    ("item.pop('name')", "unknown method 'pop'"),
    ("items.append(1)", "unknown method 'append'"),
    ("item.update({})", "object literals are not supported"),
    ("'x'.encode()", "unknown method 'encode'"),
    ("item.gi_frame.f_back.f_globals", "cannot read field 'f_back' of null"),
    ("gi_frame.f_back", "unknown name 'gi_frame'"),
    ("'{0.__class__}'.format(item)", "unknown method 'format'"),
    ("'{x.__init__.__globals__}'.format_map(item)", "unknown method 'format_map'"),
    ("'%s' % item", "'%': expected a number, got the string '%s'"),
    ("'%(name)s' % item", "expected a number"),
    ("lambda: 1", "unexpected ':'"),
    ("[x for x in items]", "expected ']' to close the array"),
    ("item; import os", "unexpected character ';'"),
    ("item if true else 1", "unexpected name 'if'"),
    ("\\u005f\\u005fimport\\u005f\\u005f('os')", "unexpected character '\\\\'"),
    ("ｉtem", "unexpected character 'ｉ'"),
    # resource blowups
    ("10 ** 10 ** 10", "use pow(a, b)"),
    ("pow(10, pow(10, 10))", "pow(): result is too large"),
    ("pow(2, 100000)", "pow(): result is too large"),
    ("'a' * 1000000000", "expected a number, got the string 'a'"),
    ("'a'.repeat(1000000000)", "unknown method 'repeat'"),
    ("'a'.padStart(1000000000)", "unknown method 'padStart'"),
    ("'(' * 100000", "expected a number"),
    ("(" * 1000 + "1" + ")" * 1000, "nested too deeply"),
    ("[" * 1000 + "]" * 1000, "nested too deeply"),
    ("-" * 5000 + "1", "nested too deeply"),
    ("1" + "+1" * 4000, "nested too deeply"),
    ("x" * 10_001, "too long"),
    ("'" + "a" * 20_000 + "'", "too long"),
    ("'ab'.replace('', 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx')"
     " .replace('', 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx')"
     " .replace('', 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx')"
     " .replace('', 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx')",
     "max_string_length"),
    # 100,000 one-character strings, then each element copies a 1,000,000-character string:
    # every value is within the limits, together they would be 100 GB.
    ("map('x'.replace('', '" + "y" * 100 + "').replace('', '" + "z" * 100 + "')"
     ".slice(0, 100000).split(''), ('x'.replace('', '" + "y" * 100 + "').replace('', '"
     + "z" * 100 + "')).slice(0, 1000000) + item)", "built more than 16 times"),
    # Twenty strings of about a million characters each, in one array literal.
    ("[" + ", ".join(["'a'.replace('', '" + "b" * 100 + "').replace('', '" + "c" * 50
                      + "').replace('', '" + "d" * 100 + "')"] * 20) + "]",
     "built more than 16 times"),
]


@pytest.mark.parametrize(("text", "message"), ESCAPES)
def test_escape_attempt_fails_with_a_clear_error(text: str, message: str) -> None:
    error = attempt(text)
    assert message in str(error)
    assert "Traceback" not in str(error)
    assert "<class" not in str(error)
    assert INTERNAL not in str(error)


def test_string_doubling_in_a_reduce_stops_at_the_limit() -> None:
    expr = compile_expression("accumulator + accumulator + item")
    with audited(), pytest.raises(ExpressionError, match="max_string_length"):
        expr.reduce(["x"] * 1000, "seed", Scope(max_string_length=1_000_000))


def test_string_doubling_in_a_map_is_bounded() -> None:
    items = ["a" * 600_000] * 3
    results, failed = compile_expression("item + item").map(items, Scope())
    assert results == []
    assert failed == 3


def test_integer_squaring_in_a_reduce_cannot_build_huge_numbers() -> None:
    expr = compile_expression("accumulator * accumulator")
    with pytest.raises(ExpressionError, match="not a finite number"):
        expr.reduce(list(range(100)), 3, Scope())


@pytest.mark.parametrize("text", [
    "item['__class__']", "item['__proto__']", "item['constructor']", "item['__dict__']",
    "item['\\u005f\\u005fclass\\u005f\\u005f']", "variables['__class__']",
    "node['__builtins__']", "context['__globals__']", "item.constructor", "item.prototype",
    "item.mro",
])
def test_odd_keys_are_only_looked_up_as_data(text: str) -> None:
    scope = Scope(variables={"x": 1})
    with audited():
        assert compile_expression(text).evaluate(scope, input={"name": "ann"}) is None


def test_keys_that_look_like_python_internals_are_plain_data() -> None:
    data = {"__class__": "just data", "constructor": {"constructor": "still data"}}
    expr = compile_expression("item['__class__'] + ' / ' + item.constructor.constructor")
    assert expr.evaluate(Scope(), item=data) == "just data / still data"


def test_python_objects_in_the_data_are_opaque() -> None:
    class Secret:
        password = "hunter2"

        def __str__(self) -> str:
            return self.password

    value = {"obj": Secret()}
    for text in ("item.obj.password", "item.obj['password']", "item.obj.length",
                 "'x' + item.obj", "item.obj.toUpperCase()", "contains(item.obj, 'h')"):
        with pytest.raises(ExpressionError) as caught:
            compile_expression(text).evaluate(Scope(), item=value)
        assert "hunter2" not in str(caught.value)


# -- the generated Python only ever names our own things ------------------------------------

_ALLOWED_ATTRIBUTES = {"__class__", "get", "variables", "context", "nodes"}


def _allowed_name(name: str, namespace: set[str]) -> bool:
    if name in namespace or name in {"_s", "input_", "item", "index", "items", "acc",
                                            "_r", "_start", "_out"}:
        return True
    prefix, digits = name[:2], name[2:]
    return prefix in ("_t", "_h") and digits.isdigit()


def check_generated_code(text: str) -> None:
    program = generate(parse(text))
    namespace = set(compiler_namespace())
    for source in (evaluate_source(program), batch_source(program)):
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Name):
                assert _allowed_name(node.id, namespace), (text, node.id)
            elif isinstance(node, ast.Attribute):
                assert node.attr in _ALLOWED_ATTRIBUTES, (text, node.attr)
            elif isinstance(node, ast.FunctionDef):
                assert node.name in ("_evaluate", "_filter", "_map", "_reduce") or (
                    node.name.startswith("_h") and node.name[2:].isdigit()), (text, node.name)
            elif isinstance(node, ast.Import | ast.ImportFrom | ast.Global | ast.Nonlocal
                            | ast.Delete | ast.ClassDef | ast.AsyncFunctionDef | ast.Await
                            | ast.Yield | ast.YieldFrom | ast.JoinedStr):
                pytest.fail(f"generated code for {text!r} contains {type(node).__name__}")


@pytest.mark.parametrize("text", [
    "item.name", "item.os + item.system", "item['__class__']", "exec_ + eval_ + open_",
    "item.get + item.pop", "node.http-1.x", "variables.exec", "map(item, item.import)",
    "item.a.b.c.d", "_t1 + _h1 + _s + input_ + acc", "_add + _dict + _int",
])
def test_field_names_never_become_python_identifiers(text: str) -> None:
    check_generated_code(text)


# -- fuzzing ---------------------------------------------------------------------------------
# THAIYYAL_FUZZ_EXAMPLES=20000 runs a deeper search than the default suite does.
EXAMPLES = int(os.environ.get("THAIYYAL_FUZZ_EXAMPLES", "400"))

_EXPRESSION_CHARS = st.sampled_from(
    list("abcitemnpux0123456789 .,()[]'\"+-*/%!?:<>=&|_$\\{}`#;@~^")
    + ["item", "input", "node.", "variables.", "map(", "pow(", "'", "__", "length", "\n"])
_DATA = st.recursive(
    st.none() | st.booleans() | st.integers(-10**20, 10**20) | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["a", "b", "name", "value", "length", "items"]), inner, max_size=4),
    max_leaves=12,
)


def outcome(call: Any) -> tuple[Any, Exception | None]:
    """(value, None) or (None, the ExpressionError / ExpressionSyntaxError raised)."""
    try:
        return call(), None
    except (ExpressionError, ExpressionSyntaxError) as error:
        return None, error


def _evaluate_safely(text: str, data: Any) -> None:
    expr, error = outcome(lambda: compile_expression(text))
    if error is not None:
        assert isinstance(error, ExpressionSyntaxError)
        return
    scope = Scope(max_string_length=10_000, max_array_length=1_000)
    _, error = outcome(lambda: expr.evaluate(scope, input=data))
    assert INTERNAL not in str(error), (text, data, error)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.text(max_size=60))
def test_random_text_only_ever_raises_syntax_errors(text: str) -> None:
    _, error = outcome(lambda: compile_expression(text))
    assert error is None or (isinstance(error, ExpressionSyntaxError) and error.column >= 1)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pieces=st.lists(_EXPRESSION_CHARS, max_size=30), data=_DATA)
def test_random_expression_like_text_compiles_or_fails_cleanly(pieces: list[str],
                                                              data: Any) -> None:
    _evaluate_safely("".join(pieces), data)


# Well-formed expressions built from the grammar, to exercise the compiler's fast paths.
_FIELDS = st.sampled_from(["a", "b", "name", "value", "length", "items", "x"])
_DETERMINISTIC = sorted(set(FUNCTIONS) - {"now", "sample"})


def _leaf() -> st.SearchStrategy[str]:
    return st.one_of(
        st.integers(-1000, 1000).map(str),
        st.floats(-1e6, 1e6, allow_nan=False).map(repr),
        st.text(alphabet="ab1 .-", max_size=4).map(lambda s: repr(s)),
        st.sampled_from(["true", "false", "null", "item", "input", "index", "items",
                         "accumulator", "variables.v", "context.c", "node.n-1", "value"]),
    )


def _extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    binary = st.sampled_from(["+", "-", "*", "/", "%", "==", "!=", "<", "<=", ">", ">=",
                              "&&", "||"])
    return st.one_of(
        st.tuples(inner, binary, inner).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        st.tuples(st.sampled_from(["!", "-", "+"]), inner).map(lambda t: f"{t[0]}({t[1]})"),
        st.tuples(inner, inner, inner).map(lambda t: f"({t[0]} ? {t[1]} : {t[2]})"),
        st.tuples(inner, _FIELDS).map(lambda t: f"({t[0]}).{t[1]}"),
        st.tuples(inner, inner).map(lambda t: f"({t[0]})[{t[1]}]"),
        st.lists(inner, max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]"),
        st.tuples(st.sampled_from(_DETERMINISTIC), st.lists(inner, min_size=0, max_size=3))
        .map(lambda t: _call(t[0], t[1])),
        st.tuples(inner, st.sampled_from(sorted(METHODS)), st.lists(inner, max_size=2))
        .map(lambda t: _method(t[0], t[1], t[2])),
    )


def _call(name: str, args: list[str]) -> str:
    function = FUNCTIONS[name]
    count = max(function.min_args, min(len(args), function.max_args or len(args)))
    args = (args + ["item"] * count)[:count]
    return f"{name}({', '.join(args)})"


def _method(receiver: str, name: str, args: list[str]) -> str:
    function = METHODS[name]
    count = max(function.min_args - 1, min(len(args), (function.max_args or 9) - 1))
    args = (args + ["item"] * count)[:count]
    return f"({receiver}).{name}({', '.join(args)})"


_EXPRESSIONS = st.recursive(_leaf(), _extend, max_leaves=10)
_ITEMS = st.lists(_DATA, max_size=6)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=_EXPRESSIONS, items=_ITEMS, data=_DATA)
def test_well_formed_expressions_evaluate_to_a_value_or_an_expression_error(
        text: str, items: list[Any], data: Any) -> None:
    check_generated_code(text)
    expr = compile_expression(text)
    scope = Scope(variables={"v": data}, context={"c": 2}, nodes={"n-1": {"value": data}},
                  max_string_length=10_000, max_array_length=1_000)
    expected, failures = [], 0
    for position, value in enumerate(items):
        result, error = outcome(lambda: expr.evaluate(
            scope, input=data, item=value, index=position, items=items))  # noqa: B023
        assert INTERNAL not in str(error), (text, value, error)
        if error is None:
            expected.append(result)
        else:
            failures += 1
    # The batch paths (one comprehension, falling back per item) agree with evaluate().
    assert expr.map(items, scope, input=data) == (expected, failures)
    kept, errors = expr.filter(items, scope, input=data)
    assert errors == failures
    assert len(kept) <= len(items) - failures
    _, error = outcome(lambda: expr.reduce(items, 0, scope, input=data))
    assert INTERNAL not in str(error), (text, error)
