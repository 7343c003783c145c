"""The function and method library: the only code an expression can call.

Each function takes the run's Scope first (for size limits and the deadline), then the
argument values. A function marked `method` can also be called on its first argument:
`item.name.toUpperCase()` is `toUpperCase(item.name)`. `map(arr, expr)` and
`filter(arr, expr)` receive `expr` compiled as a function of (item, index, items).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from engine.errors import ExpressionError
from engine.nodes.values import json_key

from . import dates
from .runtime import (
    array_limit,
    check_array,
    check_string,
    equal,
    finite,
    join_values,
    spend,
    string_limit,
    tidy,
    to_number,
    to_str,
    truthy,
    type_name,
    work,
)
from .scope import Scope


@dataclass(frozen=True, slots=True)
class Function:
    name: str
    impl: Callable[..., Any]
    min_args: int
    max_args: int | None  # None: any number
    #: static result type for the compiler: "number", "string", "boolean", "array" or "any"
    returns: str = "any"
    #: position of an argument compiled as an inner expression over each element
    lazy: int | None = None
    method: bool = False

    def arity_text(self) -> str:
        low, high = self.min_args, self.max_args
        if high == low:
            return f"{low} argument{'s' if low != 1 else ''}"
        if high is None:
            return f"at least {low} argument{'s' if low != 1 else ''}"
        return f"{low} to {high} arguments"


# -- argument checks -----------------------------------------------------------------------

def _array(value: Any, name: str) -> list[Any] | tuple[Any, ...]:
    if isinstance(value, list | tuple):
        return value
    raise ExpressionError(f"{name}(): expected an array, got {type_name(value)}")


def _string(value: Any, name: str) -> str:
    if value.__class__ is str:
        return value
    raise ExpressionError(f"{name}(): expected a string, got {type_name(value)}")


def _text(value: Any, name: str) -> str:
    """A string argument; numbers and booleans are turned into text like JavaScript does."""
    if value.__class__ is str:
        return value
    if value.__class__ in (int, float, bool):
        return to_str(value)
    raise ExpressionError(f"{name}(): expected a string, got {type_name(value)}")


def _integer(value: Any, name: str) -> int:
    number = to_number(value, f"{name}()")
    if number.__class__ is float:
        if not math.isfinite(number):
            raise ExpressionError(f"{name}(): expected an integer, got {number}")
        number = math.trunc(number)
    return int(number)


def _numbers(args: tuple[Any, ...], name: str, scope: Scope) -> list[int | float]:
    """fn(array) or fn(a, b, c): the numbers given."""
    values = args[0] if len(args) == 1 and isinstance(args[0], list | tuple) else args
    _big(scope, values)
    return [to_number(value, f"{name}()") for value in values]


def _big(scope: Scope, values: Any) -> None:
    """Meter work over every item of `values` (see runtime.work)."""
    work(scope, len(values))


# -- math ----------------------------------------------------------------------------------

def _pow(scope: Scope, base: Any, exponent: Any) -> int | float:
    x, y = to_number(base, "pow()"), to_number(exponent, "pow()")
    if x.__class__ is int and y.__class__ is int and y >= 0:
        if abs(x) <= 1 or y * math.log2(abs(x)) < 64:
            return finite(x**y, "pow()")
    try:
        result = math.pow(x, y)
    except OverflowError:
        raise ExpressionError("pow(): result is too large") from None
    except ValueError:
        raise ExpressionError(f"pow(): {base}^{exponent} is not a real number") from None
    return tidy(finite(result, "pow()"))


def _sqrt(scope: Scope, value: Any) -> int | float:
    x = to_number(value, "sqrt()")
    if x < 0:
        raise ExpressionError("sqrt(): the number is negative")
    return tidy(math.sqrt(x))


def _elementwise(rule: Callable[[int | float], int | float], name: str) -> Callable[..., Any]:
    """abs/floor/ceil/round accept a number or an array of numbers (Thaiyyal)."""
    def one(value: Any) -> int | float:
        try:
            return finite(rule(to_number(value, f"{name}()")), f"{name}()")
        except (OverflowError, ValueError):
            raise ExpressionError(f"{name}(): {value} is not a finite number") from None

    def apply(scope: Scope, value: Any) -> Any:
        if isinstance(value, list | tuple):
            _big(scope, value)
            return check_array(scope, [one(v) for v in value])
        return one(value)
    return apply


def _js_round(x: int | float) -> int | float:
    """Math.round: halves go up (2.5 -> 3, -2.5 -> -2)."""
    if x.__class__ is int:
        return x
    down = math.floor(x)
    return down + 1 if x - down >= 0.5 else down


def _round(scope: Scope, value: Any, digits: Any = None) -> Any:
    if digits is None:
        return _ROUND(scope, value)
    places = _integer(digits, "round")
    if not 0 <= places <= 15:
        raise ExpressionError("round(): digits must be between 0 and 15")
    scale = 10**places

    def rule(x: int | float) -> int | float:
        return tidy(_js_round(x * scale) / scale) if x.__class__ is float else x

    return _elementwise(rule, "round")(scope, value)


_ROUND = _elementwise(_js_round, "round")


def _min(scope: Scope, *args: Any) -> int | float:
    numbers = _numbers(args, "min", scope)
    if not numbers:
        raise ExpressionError("min(): no numbers given")
    return min(numbers)


def _max(scope: Scope, *args: Any) -> int | float:
    numbers = _numbers(args, "max", scope)
    if not numbers:
        raise ExpressionError("max(): no numbers given")
    return max(numbers)


def _sum(scope: Scope, *args: Any) -> int | float:
    return finite(sum(_numbers(args, "sum", scope)), "sum()")


def _avg(scope: Scope, *args: Any) -> int | float:
    numbers = _numbers(args, "avg", scope)
    if not numbers:
        return 0
    return tidy(finite(sum(numbers) / len(numbers), "avg()"))


# -- arrays --------------------------------------------------------------------------------

def _map(scope: Scope, values: Any, each: Callable[[Any, int, Any], Any]) -> list[Any]:
    values = _array(values, "map")
    if len(values) > scope.max_array_length:
        raise array_limit(scope)
    out = []
    for position, value in enumerate(values):
        if position & 1023 == 1023:
            scope.check_deadline()
        out.append(each(value, position, values))
    return check_array(scope, out)


def _filter(scope: Scope, values: Any, each: Callable[[Any, int, Any], Any]) -> list[Any]:
    values = _array(values, "filter")
    out = []
    for position, value in enumerate(values):
        if position & 1023 == 1023:
            scope.check_deadline()
        if truthy(each(value, position, values)):
            out.append(value)
    return check_array(scope, out)


def _sort(scope: Scope, values: Any, order: Any = "asc") -> list[Any]:
    values = _array(values, "sort")
    if order not in ("asc", "desc"):
        raise ExpressionError("sort(): the order must be \"asc\" or \"desc\"")
    _big(scope, values)
    numbers = all(v.__class__ in (int, float) for v in values)
    if not numbers and not all(v.__class__ is str for v in values):
        raise ExpressionError("sort(): the array must hold only numbers or only strings")
    return check_array(scope, sorted(values, reverse=order == "desc"))


def _slice(scope: Scope, value: Any, start: Any, end: Any = None) -> Any:
    if value.__class__ is not str:
        value = list(_array(value, "slice"))
    begin = _integer(start, "slice")
    stop = len(value) if end is None else _integer(end, "slice")
    part = value[begin:stop]
    return check_string(part, scope) if part.__class__ is str else check_array(scope, part)


def _sample(scope: Scope, values: Any, count: Any = None) -> Any:
    values = _array(values, "sample")
    if count is None:
        return random.choice(values) if values else None
    size = _integer(count, "sample")
    if size < 0:
        raise ExpressionError("sample(): the count must not be negative")
    return check_array(scope, random.sample(list(values), min(size, len(values))))


def _unique(scope: Scope, values: Any) -> list[Any]:
    values = _array(values, "unique")
    _big(scope, values)
    seen: set[Any] = set()
    out = []
    for value in values:
        key = json_key(value)  # the one equality rule (engine.nodes.values)
        if key not in seen:
            seen.add(key)
            out.append(value)
    return check_array(scope, out)


def _zip(scope: Scope, *arrays: Any) -> list[list[Any]]:
    columns = [_array(array, "zip") for array in arrays]
    size = max(len(column) for column in columns)
    if size > scope.max_array_length:
        raise array_limit(scope)
    spend(scope, size * len(columns))
    _big(scope, range(size))
    return check_array(
        scope, [[column[i] if i < len(column) else None for column in columns]
                for i in range(size)])


def _reverse(scope: Scope, value: Any) -> Any:
    if value.__class__ is str:
        return check_string(value[::-1], scope)
    return check_array(scope, list(reversed(_array(value, "reverse"))))


def _flatten(scope: Scope, values: Any) -> list[Any]:
    """Flattens nested arrays at any depth (Thaiyyal), without recursion."""
    out: list[Any] = []
    limit = scope.max_array_length
    stack = [iter(_array(values, "flatten"))]
    while stack:
        for value in stack[-1]:
            if isinstance(value, list | tuple):
                stack.append(iter(value))
                break
            out.append(value)
            if len(out) > limit:
                raise array_limit(scope)
        else:
            stack.pop()
    return check_array(scope, out)


def _first(scope: Scope, value: Any) -> Any:
    if value.__class__ is not str:
        value = _array(value, "first")
    return value[0] if value else None


def _last(scope: Scope, value: Any) -> Any:
    if value.__class__ is not str:
        value = _array(value, "last")
    return value[-1] if value else None


def _join(scope: Scope, values: Any, separator: Any = ",") -> str:
    values = _array(values, "join")
    return check_string(join_values(values, _text(separator, "join"), scope), scope)


# -- strings -------------------------------------------------------------------------------

def _upper(scope: Scope, value: Any) -> str:
    return check_string(_string(value, "toUpperCase").upper(), scope)


def _lower(scope: Scope, value: Any) -> str:
    return check_string(_string(value, "toLowerCase").lower(), scope)


def _trim(scope: Scope, value: Any) -> str:
    return check_string(_string(value, "trim").strip(), scope)


def _includes(scope: Scope, value: Any, needle: Any) -> bool:
    if value.__class__ is str:
        return _text(needle, "includes") in value
    values = _array(value, "includes")
    _big(scope, values)
    return any(equal(v, needle) for v in values)


def _starts_with(scope: Scope, value: Any, prefix: Any) -> bool:
    return _string(value, "startsWith").startswith(_text(prefix, "startsWith"))


def _ends_with(scope: Scope, value: Any, suffix: Any) -> bool:
    return _string(value, "endsWith").endswith(_text(suffix, "endsWith"))


def _replace(scope: Scope, value: Any, old: Any, new: Any) -> str:
    """Replaces every occurrence, as Thaiyyal does (JS replaceAll)."""
    text = _string(value, "replace")
    old_text, new_text = _text(old, "replace"), _text(new, "replace")
    count = len(text) + 1 if old_text == "" else text.count(old_text)
    if len(text) + count * (len(new_text) - len(old_text)) > scope.max_string_length:
        raise string_limit(scope)
    return check_string(text.replace(old_text, new_text), scope)


def _split(scope: Scope, value: Any, separator: Any = None) -> list[str]:
    text = _string(value, "split")
    if separator is None:
        return check_array(scope, [text])
    sep = _text(separator, "split")
    pieces = len(text) if sep == "" else text.count(sep) + 1
    if pieces > scope.max_array_length:
        raise array_limit(scope)
    _big(scope, text)
    return check_array(scope, list(text) if sep == "" else text.split(sep))


def _contains(scope: Scope, haystack: Any, needle: Any) -> bool:
    """contains(a, b): substring, array element or object key; null contains nothing."""
    if haystack is None:
        return False
    if isinstance(haystack, list | tuple):
        return _includes(scope, haystack, needle)
    if isinstance(haystack, Mapping):
        return needle.__class__ is str and needle in haystack
    if needle is None or isinstance(needle, list | tuple | Mapping):
        return False
    return to_str(needle) in to_str(haystack)


def _to_string(scope: Scope, value: Any) -> str:
    """x.toString(): JavaScript's text for a value (arrays are joined with commas)."""
    return check_string(to_str(value, scope), scope)


def _to_fixed(scope: Scope, value: Any, digits: Any = 0) -> str:
    """x.toFixed(n): a number as text with n decimals, halves rounded up as in JS."""
    if value.__class__ not in (int, float):
        raise ExpressionError(f"toFixed(): expected a number, got {type_name(value)}")
    places = _integer(digits, "toFixed")
    if not 0 <= places <= 20:
        raise ExpressionError("toFixed(): digits must be between 0 and 20")
    if not math.isfinite(value) or abs(value) >= 1e21:
        return to_str(value)
    exact = Decimal(value or 0).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    return f"{exact:f}"


def _is_null(scope: Scope, value: Any) -> bool:
    return value is None


def _coalesce(scope: Scope, *values: Any) -> Any:
    for value in values:
        if value is not None:
            return value
    return None


def _library() -> dict[str, Function]:
    f = Function
    table = [
        f("pow", _pow, 2, 2, "number"),
        f("sqrt", _sqrt, 1, 1, "number"),
        f("abs", _elementwise(abs, "abs"), 1, 1),
        f("floor", _elementwise(math.floor, "floor"), 1, 1),
        f("ceil", _elementwise(math.ceil, "ceil"), 1, 1),
        f("round", _round, 1, 2),
        f("min", _min, 1, None, "number"),
        f("max", _max, 1, None, "number"),
        f("sum", _sum, 1, None, "number"),
        f("avg", _avg, 1, None, "number"),
        f("map", _map, 2, 2, "array", lazy=1),
        f("filter", _filter, 2, 2, "array", lazy=1),
        f("sort", _sort, 1, 2, "array"),
        f("slice", _slice, 2, 3, method=True),
        f("sample", _sample, 1, 2),
        f("unique", _unique, 1, 1, "array"),
        f("zip", _zip, 1, None, "array"),
        f("reverse", _reverse, 1, 1, method=True),
        f("flatten", _flatten, 1, 1, "array"),
        f("first", _first, 1, 1, method=True),
        f("last", _last, 1, 1, method=True),
        f("join", _join, 1, 2, "string", method=True),
        f("toUpperCase", _upper, 1, 1, "string", method=True),
        f("toLowerCase", _lower, 1, 1, "string", method=True),
        f("upper", _upper, 1, 1, "string"),
        f("lower", _lower, 1, 1, "string"),
        f("trim", _trim, 1, 1, "string", method=True),
        f("includes", _includes, 2, 2, "boolean", method=True),
        f("startsWith", _starts_with, 2, 2, "boolean", method=True),
        f("endsWith", _ends_with, 2, 2, "boolean", method=True),
        f("replace", _replace, 3, 3, "string", method=True),
        f("replaceAll", _replace, 3, 3, "string", method=True),
        f("split", _split, 1, 2, "array", method=True),
        f("toString", _to_string, 1, 1, "string", method=True),
        f("toFixed", _to_fixed, 1, 2, "string", method=True),
        f("contains", _contains, 2, 2, "boolean"),
        f("isNull", _is_null, 1, 1, "boolean"),
        f("coalesce", _coalesce, 1, None),
        f("now", dates.now, 0, 0, "string"),
        f("parseDate", dates.parse_date, 1, 1, "string"),
        f("toEpoch", dates.to_epoch, 1, 1, "number"),
        f("toEpochMillis", dates.to_epoch_millis, 1, 1, "number"),
        f("fromEpoch", dates.from_epoch, 1, 1, "string"),
        f("fromEpochMillis", dates.from_epoch_millis, 1, 1, "string"),
        f("dateAdd", dates.date_add, 2, 2, "string"),
        f("dateDiff", dates.date_diff, 2, 2, "number"),
        f("year", dates.year, 1, 1, "number"),
        f("month", dates.month, 1, 1, "number"),
        f("day", dates.day, 1, 1, "number"),
        f("hour", dates.hour, 1, 1, "number"),
        f("minute", dates.minute, 1, 1, "number"),
        f("second", dates.second, 1, 1, "number"),
    ]
    return {function.name: function for function in table}


#: every function an expression may call, by name
FUNCTIONS: dict[str, Function] = _library()
#: the methods: `x.name(args)` calls FUNCTIONS[name] with x first
METHODS: dict[str, Function] = {name: f for name, f in FUNCTIONS.items() if f.method}
