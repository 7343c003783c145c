"""Value semantics shared by the compiled code and the function library.

Values are JSON values: None (null), bool, int/float (number), str, list (array) and dict
(object). Rules, chosen to be JavaScript-like and compatible with Thaiyyal:

- Reading a missing field of an object gives null (like JS `undefined`); reading any field
  of null, a number, a string or a boolean is an error. A *bare* name (`age`) that is not a
  field of the item/input is an error naming it (like a JS ReferenceError).
- `+` adds numbers and concatenates as soon as one side is a string (JS ToString of the
  other side: `1` -> "1", `true` -> "true", `null` -> "null", arrays -> "a,b",
  objects -> "[object Object]"); any other mix is an error. `- * / %` accept numbers and
  numeric strings (`"6" * 2` is 12). Division or modulo by zero is an error, not Infinity.
  `%` follows JS: the result has the sign of the dividend. Integers stay exact; any
  result beyond 2**53 becomes a float (JS precision; engine/bounds.py holds the rule); a
  result too large for a float is an error.
- `==` / `!=`: null equals only null, booleans only booleans, numbers compare numerically
  with numbers and numeric strings (`"18" == 18`), two strings compare as text, arrays and
  objects compare by content. `< <= > >=`: numbers (and numeric strings) numerically, other
  strings alphabetically; anything else (null, booleans, arrays, objects, a number against
  a non-numeric string) compares as false.
- Truthiness is JavaScript's: false, 0, NaN, "" and null are false; everything else,
  including [] and {}, is true. `&&` and `||` return an operand, so `item.name || "n/a"`
  works as a default.

Nothing here reads attributes of values or calls methods on them other than the dict, list
and str operations written below.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from typing import Any

from engine.bounds import SAFE_INTEGER, js_number
from engine.errors import ExpressionError, LimitExceeded
from engine.metering import METER_FROM, WORK_SLICE, meter
from engine.metering import work as _work
from engine.nodes.values import json_equal, numeric_text

from .scope import Scope

NUMBER_TYPES = (int, float)
# JS Number(): optional sign, digits with optional fraction (or a leading dot), exponent,
# surrounding whitespace allowed. No hex, no "Infinity", no empty string (JS makes "" 0).
BIG_WORK = WORK_SLICE


class NoItem:
    """Marks "no item given": `item` then means the input."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NO_ITEM"


NO_ITEM = NoItem()


# -- types and conversions -----------------------------------------------------------------

def type_name(value: Any) -> str:
    """The JavaScript-style name of a value's type, for error messages."""
    if value is None:
        return "null"
    cls = value.__class__
    if cls is bool:
        return "boolean"
    if cls is int or cls is float:
        return "number"
    if cls is str:
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return "unsupported value"


def is_number(value: Any) -> bool:
    cls = value.__class__
    return cls is int or cls is float


#: the one definition (engine.nodes.values); named here as the compiler and functions use it
numeric_string = numeric_text


def to_number(value: Any, what: str) -> int | float:
    """Numbers and numeric strings as a number; anything else is an error naming `what`."""
    cls = value.__class__
    if cls is int or cls is float:
        return value
    if cls is str:
        number = numeric_string(value)
        if number is not None:
            return number
        raise ExpressionError(f"{what}: expected a number, got the string {_preview(value)}")
    raise ExpressionError(f"{what}: expected a number, got {type_name(value)}")


#: Keep results JS-safe: ints beyond 2**53 become floats, and inf/NaN are errors.
finite = js_number


def tidy(number: float) -> int | float:
    """A float with an integral value as an int (JS prints 4, not 4.0)."""
    if number.__class__ is float and number.is_integer() and abs(number) <= SAFE_INTEGER:
        return int(number)
    return number


def to_str(value: Any, scope: Scope | None = None) -> str:
    """JavaScript's ToString for JSON values."""
    cls = value.__class__
    if cls is str:
        return value
    if value is None:
        return "null"
    if cls is bool:
        return "true" if value else "false"
    if cls is int:
        return str(value)
    if cls is float:
        return number_text(value)
    if isinstance(value, list | tuple):
        return _join(value, ",", scope, 0)
    if isinstance(value, Mapping):
        return "[object Object]"
    raise ExpressionError(f"cannot turn {type_name(value)} into text")


def number_text(number: float) -> str:
    if number != number:
        return "NaN"
    if number in (math.inf, -math.inf):
        return "Infinity" if number > 0 else "-Infinity"
    if number.is_integer() and abs(number) < 1e21:
        return str(int(number))
    text = repr(number)
    if "e" in text:
        mantissa, exponent = text.split("e")
        sign = "-" if exponent.startswith("-") else "+"
        text = f"{mantissa}e{sign}{exponent.lstrip('+-').lstrip('0') or '0'}"
    return text


def join_values(values: Any, separator: str, scope: Scope | None) -> str:
    """Array.join: null elements become empty, nested arrays are joined with commas."""
    return _join(values, separator, scope, 0)


def _join(values: Any, separator: str, scope: Scope | None, depth: int) -> str:
    if depth > 100:
        raise ExpressionError("array is nested too deeply to turn into text")
    parts = []
    size = 0
    limit = scope.max_string_length if scope is not None else None
    if len(values) >= METER_FROM:
        meter(len(values))
    for value in values:
        if value is None:
            part = ""
        elif isinstance(value, list | tuple):
            part = _join(value, ",", scope, depth + 1)
        else:
            part = to_str(value, scope)
        size += len(part) + len(separator)
        if limit is not None and size > limit + len(separator):
            raise string_limit(scope)
        parts.append(part)
    return separator.join(parts)


def _preview(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:37] + "...")


# -- limits --------------------------------------------------------------------------------
#
# Each value an expression builds is bounded by the two size limits. That alone does not
# bound memory: `map(bigArray, 'x' + bigString)` or `[s + s, s + s, ...]` keep many values
# of the maximum size. So the values built while producing one result may total at most
# BUDGET_FACTOR * max_string_length characters and array elements. "One result" is one
# evaluate() call, one whole map() (whose results are all kept), one item of a filter() and
# one step of a reduce() (whose intermediate values are dropped as they go). Running out
# raises BudgetExceeded, a LimitExceeded, which stops the whole call.

BUDGET_FACTOR = 16
BUDGET = threading.local()


class BudgetExceeded(LimitExceeded):
    """An expression call built too much data in total (see above)."""


def start_budget(scope: Scope) -> None:
    BUDGET.left = BUDGET_FACTOR * scope.max_string_length


def work(scope: Scope, amount: int) -> None:
    """Meter `amount` items of work (engine/metering.py) against the scope's deadline."""
    _work(scope.check_deadline, amount)


def check_deadline(scope: Scope) -> None:
    """For generated code, which reads no attribute it does not need."""
    scope.check_deadline()


def spend(scope: Scope, amount: int) -> None:
    left = getattr(BUDGET, "left", None)
    if left is None:
        return  # a helper used outside an Expression call (tests, other engine code)
    left -= amount
    BUDGET.left = left
    if left < 0:
        raise BudgetExceeded(
            "max_string_length", scope.max_string_length,
            detail=f"one expression call built more than {BUDGET_FACTOR} times that many "
                   "characters and array elements")


def string_limit(scope: Scope | None) -> ExpressionError:
    limit = scope.max_string_length if scope is not None else "?"
    return ExpressionError(f"string is longer than the limit max_string_length={limit}")


def check_string(text: str, scope: Scope) -> str:
    """A string the expression built: within the limit, and paid for."""
    if len(text) > scope.max_string_length:
        raise string_limit(scope)
    spend(scope, len(text))
    if len(text) >= METER_FROM:
        work(scope, len(text) // 64)  # copying text is cheap per character
    return text


def check_array(scope: Scope, values: list[Any]) -> list[Any]:
    """An array the expression built: within the limit, and paid for."""
    if len(values) > scope.max_array_length:
        raise array_limit(scope)
    spend(scope, len(values))
    if len(values) >= METER_FROM:
        work(scope, len(values))
    return values


def array_limit(scope: Scope) -> ExpressionError:
    return ExpressionError(
        f"array is longer than the limit max_array_length={scope.max_array_length}")


# -- arithmetic ----------------------------------------------------------------------------

def add(a: Any, b: Any, scope: Scope) -> Any:
    ca, cb = a.__class__, b.__class__
    if (ca is int or ca is float) and (cb is int or cb is float):
        return finite(a + b, "+")
    if ca is str or cb is str:
        if (ca is str or _concatenable(a)) and (cb is str or _concatenable(b)):
            x, y = to_str(a, scope), to_str(b, scope)
            if len(x) + len(y) > scope.max_string_length:
                raise string_limit(scope)
            return check_string(x + y, scope)
    raise ExpressionError(f"cannot add {type_name(a)} and {type_name(b)} with '+'")


def _concatenable(value: Any) -> bool:
    return type_name(value) != "unsupported value"


def subtract(a: Any, b: Any) -> Any:
    return finite(to_number(a, "'-'") - to_number(b, "'-'"), "'-'")


def multiply(a: Any, b: Any) -> Any:
    return finite(to_number(a, "'*'") * to_number(b, "'*'"), "'*'")


def divide(a: Any, b: Any) -> Any:
    x, y = to_number(a, "'/'"), to_number(b, "'/'")
    if y == 0:
        raise ExpressionError("division by zero")
    if x.__class__ is int and y.__class__ is int and x % y == 0:
        return finite(x // y, "'/'")
    return finite(x / y, "'/'")


def modulo(a: Any, b: Any) -> Any:
    x, y = to_number(a, "'%'"), to_number(b, "'%'")
    if y == 0:
        raise ExpressionError("modulo by zero")
    if x.__class__ is int and y.__class__ is int:
        result = abs(x) % abs(y)
        return -result if x < 0 else result
    return finite(math.fmod(x, y), "'%'")


def negate(a: Any) -> Any:
    return finite(-to_number(a, "unary '-'"), "unary '-'")


def plus(a: Any) -> Any:
    return finite(to_number(a, "unary '+'"), "unary '+'")


# -- comparison and truth ------------------------------------------------------------------

def truthy(value: Any) -> bool:
    cls = value.__class__
    if cls is bool:
        return value
    if value is None:
        return False
    if cls is int or cls is float:
        return value != 0 and value == value
    if cls is str:
        return value != ""
    return True


#: `==` is Thaiyyal's JSON equality, the one rule (engine.nodes.values.json_equal)
equal = json_equal


def not_equal(a: Any, b: Any) -> bool:
    return not equal(a, b)


def _ordered(a: Any, b: Any) -> tuple[Any, Any] | None:
    """The pair to compare with < and friends, or None when they don't compare."""
    ca, cb = a.__class__, b.__class__
    a_num, b_num = ca is int or ca is float, cb is int or cb is float
    if a_num and b_num:
        return a, b
    if ca is str and cb is str:
        x, y = numeric_string(a), numeric_string(b)
        if x is not None and y is not None:
            return x, y
        return a, b
    if a_num and cb is str:
        y = numeric_string(b)
        return None if y is None else (a, y)
    if b_num and ca is str:
        x = numeric_string(a)
        return None if x is None else (x, b)
    return None


def less(a: Any, b: Any) -> bool:
    pair = _ordered(a, b)
    return pair is not None and pair[0] < pair[1]


def less_equal(a: Any, b: Any) -> bool:
    pair = _ordered(a, b)
    return pair is not None and pair[0] <= pair[1]


def greater(a: Any, b: Any) -> bool:
    pair = _ordered(a, b)
    return pair is not None and pair[0] > pair[1]


def greater_equal(a: Any, b: Any) -> bool:
    pair = _ordered(a, b)
    return pair is not None and pair[0] >= pair[1]


# -- reading values ------------------------------------------------------------------------

def member(obj: Any, name: str) -> Any:
    """obj.name: a key of an object; a missing key is null."""
    if isinstance(obj, Mapping):
        return obj.get(name)
    raise ExpressionError(f"cannot read field '{name}' of {type_name(obj)}")


def length(obj: Any) -> Any:
    """obj.length: size of a string or array; a field named "length" of an object."""
    if obj.__class__ is str or isinstance(obj, list | tuple):
        return len(obj)
    if isinstance(obj, Mapping):
        return obj.get("length")
    raise ExpressionError(f"cannot read field 'length' of {type_name(obj)}")


def index(obj: Any, key: Any) -> Any:
    """obj[key]: array/string position (out of range -> null) or object key."""
    if obj.__class__ is str or isinstance(obj, list | tuple):
        position = _position(key)
        if position is None:
            if key == "length" and key.__class__ is str:
                return len(obj)
            return None
        return obj[position] if 0 <= position < len(obj) else None
    if isinstance(obj, Mapping):
        return obj.get(object_key(key))
    raise ExpressionError(f"cannot read [{_key_preview(key)}] of {type_name(obj)}")


def _position(key: Any) -> int | None:
    cls = key.__class__
    if cls is int:
        return key
    if cls is float:
        return int(key) if key.is_integer() else None
    if cls is str:
        number = numeric_string(key)
        if number is not None and number.__class__ is int and key.strip() == str(number):
            return number
    return None


def object_key(key: Any) -> str:
    """The text key JS would use for obj[key]."""
    if key.__class__ is str:
        return key
    if key is None or key.__class__ in (bool, int, float):
        return to_str(key)
    raise ExpressionError(f"cannot use {type_name(key)} as a field name")


def _key_preview(key: Any) -> str:
    if key.__class__ is str:
        return _preview(key)
    return type_name(key) if type_name(key) in ("array", "object") else to_str(key)


def bare(holder: Any, name: str) -> Any:
    """A bare name: a field of the item (or input) that must exist."""
    if isinstance(holder, Mapping) and name in holder:
        return holder[name]
    raise ExpressionError(
        f"unknown name '{name}': the current item or input has no field '{name}' "
        f"(write item.{name} to read a field that may be missing)")


def subject(value: Any) -> Any:
    """The left side of the `>= 18` shorthand: the value, its `value` field, that one's
    `value` field, and so on (Thaiyyal unwraps nested envelopes at every depth)."""
    while isinstance(value, Mapping) and "value" in value:
        value = value["value"]
    return value


def scope_get(mapping: Mapping[str, Any], key: Any) -> Any:
    """variables[key], context[key], node[key]: missing -> null."""
    return mapping.get(object_key(key))
