"""How nodes look at the JSON values flowing between them: type names, numbers, arrays
inside result envelopes, and Thaiyyal's value equality."""

from __future__ import annotations

import json
from typing import Any

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


def same_value(left: Any, right: Any) -> bool:
    """Equality without Python's cross-type surprises: `1 == True` and `1 == "1"` are false,
    `1 == 1.0` is true."""
    if is_number(left) and is_number(right):
        return left == right
    if json_type(left) != json_type(right):
        return False
    return bool(left == right)


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
