"""How nodes look at the JSON values flowing between them: type names, numbers, arrays
inside result envelopes, dotted paths, and Thaiyyal's value equality (one rule each)."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from engine.errors import ExpressionError
from engine.metering import METER_FROM, meter

#: keys under which an array is looked for in an object input, in this order. Thaiyyal's
#: filter and partition look under the first five (the `range` envelope, common API response
#: shapes); ours adds the envelopes of filter and map, so filter -> map -> reduce chains
#: without glue nodes
ARRAY_KEYS = ("range", "array", "items", "data", "values", "filtered", "results")


def json_type(value: Any) -> str:
    """The JSON name of `value`'s type, for messages and `original_type` fields."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def is_number(value: Any) -> bool:
    """True for JSON numbers: int or float, never bool."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def find_array(value: Any, keys: tuple[str, ...] = ARRAY_KEYS) -> list[Any] | None:
    """`value` itself if it is an array, else the first array under one of `keys` of an
    object, else None."""
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        for key in keys:
            found = value.get(key)
            if isinstance(found, list):
                return found
    return None


def truthy(value: Any) -> bool:
    """JavaScript's truthiness, which Thaiyyal's expression users expect: null, false, 0,
    NaN and "" are false; everything else (including [] and {}) is true."""
    if value is None or value is False:
        return False
    if value is True:
        return True
    if is_number(value):
        return value == value and value != 0  # NaN != NaN
    if isinstance(value, str):
        return value != ""
    return True


def text_of(value: Any) -> str:
    """A value as plain text (a CSV cell, a string context value): strings as they are,
    whole numbers without `.0`, booleans `true`/`false`, null empty, arrays and objects as
    compact JSON."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if is_number(value):
        return repr(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


#: what `lookup_path` returns when the path leads nowhere (None is a value JSON can hold)
MISSING: Any = object()

_INDEXED = re.compile(r"^([^\[\]]*)((?:\[\d+\])+)$")


def lookup_path(value: Any, path: str) -> Any:
    """`value` at a dotted path, Thaiyyal's way: `user.address.city`, `items[0].id`,
    `matrix[1][0]`; ours also reads `items.0.id` (a number indexes an array). Indexes
    count from 0 and are never negative (Thaiyyal: out of bounds). An empty path is the
    value itself. Returns MISSING when the path leads nowhere."""
    current = value
    for part in (p for p in path.split(".") if p) if path else ():
        match = _INDEXED.match(part)
        name, indexes = (match.group(1), re.findall(r"\d+", match.group(2))) if match \
            else (part, [])
        if name:
            if isinstance(current, dict) and name in current:
                current = current[name]
            elif isinstance(current, list) and name.isdigit() and int(name) < len(current):
                current = current[int(name)]
            else:
                return MISSING
        for index in map(int, indexes):
            if not (isinstance(current, list) and index < len(current)):
                return MISSING
            current = current[index]
    return current


#: JavaScript's Number() text forms that Thaiyyal compares as numbers: "42", " -1.5e3 ", ".5"
# Written so that no two parts can match the same digits: linear time on any text
# (`\d+\.?\d*` took 5 ms on 399 digits and an `x`, once per comparison).
_NUMERIC = re.compile(r"\s*[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?\s*\Z")


def numeric_text(text: str) -> int | float | None:
    """The number a numeric string such as "42" or " 1.5e3 " stands for, or None."""
    if len(text) > 400 or not _NUMERIC.match(text):
        return None
    stripped = text.strip()
    digits = stripped.lstrip("+-")
    if len(digits) <= 15 and digits.isdigit():  # beyond 15 digits: may pass 2**53
        return int(stripped)
    number = float(stripped)
    return number if math.isfinite(number) else None


def json_equal(left: Any, right: Any, depth: int = 0) -> bool:
    """Thaiyyal's equality of JSON values, the one rule for `==` in expressions and for
    what `unique` (node and function) counts as the same: numbers by value (1 == 1.0), a
    number and a numeric string by value (5 == "5"), strings with strings as text, booleans
    only with booleans, null only with null, arrays item by item and objects key by key.
    Raises ExpressionError for values nested over 100 deep."""
    # class checks, not isinstance: this is the hot path of `==` in expressions
    if left is None or right is None:
        return left is right
    cl, cr = left.__class__, right.__class__
    if cl is bool or cr is bool:
        return cl is cr and left == right
    left_number, right_number = cl is int or cl is float, cr is int or cr is float
    if left_number and right_number:
        return bool(left == right)
    if cl is str and cr is str:
        return bool(left == right)
    if left_number and cr is str:
        return left == numeric_text(right)
    if right_number and cl is str:
        return right == numeric_text(left)
    if depth > 100:
        raise ExpressionError("values are nested too deeply to compare")
    if (cl is list or cl is dict) and len(left) >= METER_FROM:
        meter(len(left))  # comparing big arrays item by item checks the run's deadline
    if isinstance(left, list | tuple) and isinstance(right, list | tuple):
        return len(left) == len(right) and all(
            json_equal(a, b, depth + 1) for a, b in zip(left, right, strict=True))
    if isinstance(left, dict) and isinstance(right, dict):
        return len(left) == len(right) and all(
            key in right and json_equal(item, right[key], depth + 1)
            for key, item in left.items())
    return False


def json_key(value: Any, depth: int = 0) -> Any:
    """A hashable key for `unique` to deduplicate by, following json_equal: 1, 1.0 and "1"
    share a key (so do "1" and "1.0", which json_equal, comparing two strings as text,
    tells apart: equality with numeric strings is not transitive, and unique has to pick)."""
    if depth > 100:
        raise ExpressionError("values are nested too deeply to compare")
    if value is None or isinstance(value, bool):
        return ("literal", value)
    if is_number(value):
        return ("number", value)
    if isinstance(value, str):
        number = numeric_text(value)
        return ("number", number) if number is not None else ("string", value)
    if isinstance(value, list):
        return ("array", tuple(json_key(v, depth + 1) for v in value))
    if isinstance(value, dict):
        return ("object", frozenset((k, json_key(v, depth + 1)) for k, v in value.items()))
    return ("other", repr(value))
