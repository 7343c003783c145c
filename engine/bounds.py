"""The bounds every value the engine holds obeys, so any result can be JSON-encoded.

Numbers follow JavaScript, as Thaiyyal does (its Go engine holds every number as a
float64): an integer is exact while its magnitude is at most 2**53 (`SAFE_INTEGER`);
a larger integer result becomes the nearest float, as it would in JavaScript; a value
beyond the float range, NaN or an infinity is an error, never a result. `js_number` is
that rule, and every operator, function and node that makes a number calls it (or
`loads`, for numbers read from JSON text). So no integer anywhere grows past 2**53: an
arithmetic step never costs more than a machine word, and every number encodes.

Nesting is bounded by the `max_depth` limit: a payload deeper than that is refused at
load with its path (`admit`), and a node result deeper than that is a node error. So is a
result holding more than `max_result_values` values as JSON would write them (a list
placed in two places counts twice: `[x, [x]]` repeated doubles each time without
allocating anything, and would take forever to encode). The scheduler measures a result
(`measure`) only when the node type cannot bound it cheaply (Node.nesting).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from typing import Any

from engine.errors import ExpressionError

SAFE_INTEGER = 2**53
#: digits of an integer literal read exactly; longer ones go through float()
_EXACT_DIGITS = 15


class NumberOutOfRange(ExpressionError, ValueError):
    """A number beyond what a JSON number (a 64-bit float) can hold, NaN or infinite."""


def js_number(number: int | float, what: str) -> int | float:
    """`number` under the JavaScript rule: ints beyond 2**53 become floats; a value too
    large for a float, NaN or an infinity raises NumberOutOfRange naming `what`."""
    if number.__class__ is int:
        if -SAFE_INTEGER <= number <= SAFE_INTEGER:
            return number
        try:
            number = float(number)
        except OverflowError:
            raise NumberOutOfRange(f"{what}: number is too large") from None
    if not math.isfinite(number):
        raise NumberOutOfRange(f"{what}: result is not a finite number")
    return number


def number_from_digits(text: str, what: str) -> int | float:
    """An integer literal (optional sign, digits) under the rule; any length is read in
    time linear in it (Python refuses int() of more than 4300 digits)."""
    if len(text.lstrip("+-")) <= _EXACT_DIGITS:
        return int(text)
    return js_number(float(text), what)


# -- JSON text -------------------------------------------------------------------------------

def _strict_int(text: str) -> int | float:
    if len(text) <= _EXACT_DIGITS:
        return int(text)
    number = float(text)
    if not math.isfinite(number):
        raise NumberOutOfRange(f"the {len(text)}-digit number {text[:12]}... is too large: "
                               "numbers are 64-bit floats (at most about 1.8e308)")
    return number


def _strict_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise NumberOutOfRange(f"JSON number {text[:20]} is too large")
    return number


def _refuse_constant(name: str) -> Any:
    raise NumberOutOfRange(f"{name} is not valid JSON")


def loads(text: str | bytes) -> Any:
    """JSON text as values under the number rule. Raises ValueError (json.JSONDecodeError
    for syntax, NumberOutOfRange for numbers) or RecursionError."""
    return json.loads(text, parse_int=_strict_int, parse_float=_strict_float,
                      parse_constant=_refuse_constant)


def _lenient_int(text: str) -> int | float:
    # The payload's own decoding: out-of-range numbers become inf for `admit` to report
    # with their path (a parse hook cannot know where it is).
    return int(text) if len(text) <= _EXACT_DIGITS else float(text)


def loads_payload(text: str) -> Any:
    """JSON text of a payload, for `admit` to hold to the rule and report out-of-range
    numbers (left as big ints, inf or nan) with their path. Python refuses to read an
    integer of more than 4300 digits: only then is the text read again, with a parse hook
    (a hook on every number would slow every load)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise
    except ValueError:
        return json.loads(text, parse_int=_lenient_int)


# -- checking values -------------------------------------------------------------------------

#: report(path, message)
Report = Callable[[str, str], None]


def admit(value: Any, max_depth: int, path: str, report: Report) -> tuple[Any, int]:
    """(`value` with the number rule applied, its depth). Every number beyond the float
    range, NaN or infinity, and nesting deeper than `max_depth`, is reported with its path
    (the value is then unusable). The value is copied only where a number changes."""
    return _admit(value, max_depth, path, report, 0)


def _admit(value: Any, max_depth: int, path: str, report: Report,
           level: int) -> tuple[Any, int]:
    cls = value.__class__
    if cls is int:
        if -SAFE_INTEGER <= value <= SAFE_INTEGER:
            return value, 0
        try:
            return float(value), 0
        except OverflowError:
            pass
        report(path, "number is too large: numbers are 64-bit floats (at most about 1.8e308)")
        return value, 0
    if cls is float:
        if not math.isfinite(value):
            report(path, "number is too large or not a number: numbers are 64-bit floats "
                         "(at most about 1.8e308; NaN and Infinity are not JSON)")
        return value, 0
    if cls is list or cls is dict or isinstance(value, list | Mapping):
        if level >= max_depth:
            report(path, f"nested deeper than the limit max_depth={max_depth}")
            return value, max_depth + 1
        deepest = 0
        if isinstance(value, Mapping):
            changed: dict[str, Any] | None = None
            for key, item in value.items():
                new, depth = _admit(item, max_depth, f"{path}.{key}", report, level + 1)
                deepest = max(deepest, depth)
                if new is not item:
                    changed = changed if changed is not None else dict(value)
                    changed[key] = new
            return (value if changed is None else changed), deepest + 1
        items: list[Any] | None = None
        for position, item in enumerate(value):
            new, depth = _admit(item, max_depth, f"{path}[{position}]", report, level + 1)
            deepest = max(deepest, depth)
            if new is not item:
                items = items if items is not None else list(value)
                items[position] = new
        return (value if items is None else items), deepest + 1
    return value, 0


class ValueTooBig(ExpressionError):
    """A value nests deeper than max_depth, or holds more than max_result_values values."""

    def __init__(self, limit: str, value: int, detail: str) -> None:
        self.limit = limit
        self.value = value
        super().__init__(detail)


def measure(value: Any, max_depth: int, max_values: int,
            check: Callable[[], None] | None = None) -> int:
    """The nesting depth of `value` (a scalar is 0, `[1]` is 1), counting its values as
    JSON would write them: a list placed twice counts twice, so `[x, [x]]` nested 80 times
    is refused instead of walked. Costs at most `max_values` steps (calling `check`, the
    deadline, every CHECK_EVERY). Raises ValueTooBig past either limit."""
    walk = _Walk(max_depth, max_values, check)
    return walk.depth(value, max_depth)


#: values visited between two deadline checks while measuring
CHECK_EVERY = 8192


class _Walk:
    __slots__ = ("max_depth", "max_values", "left", "check", "next_check")

    def __init__(self, max_depth: int, max_values: int,
                 check: Callable[[], None] | None) -> None:
        self.max_depth = max_depth
        self.max_values = max_values
        self.left = max_values
        self.check = check
        self.next_check = max_values - CHECK_EVERY

    def depth(self, value: Any, budget: int) -> int:
        cls = value.__class__
        if cls is dict or (cls is not list and isinstance(value, Mapping)):
            children: Any = value.values()
        elif cls is list or isinstance(value, list | tuple):
            children = value
        else:
            return 0
        if budget <= 0:
            raise ValueTooBig("max_depth", self.max_depth,
                              f"the result nests arrays/objects more than {self.max_depth} "
                              "levels deep")
        self.left -= len(children)
        if self.left < self.next_check:
            if self.left < 0:
                raise ValueTooBig("max_result_values", self.max_values,
                                  "the result holds too many values (counting a value once "
                                  "for every place it appears)")
            self.next_check = max(0, self.left - CHECK_EVERY)
            if self.check is not None:
                self.check()
        deepest = 0
        for child in children:
            c = child.__class__
            if c is str or c is int or c is float or c is bool or child is None:
                continue
            depth = self.depth(child, budget - 1)
            if depth > deepest:
                deepest = depth
        return deepest + 1
