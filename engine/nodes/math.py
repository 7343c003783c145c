"""`operation`: arithmetic on exactly two numeric inputs, taken in edge order."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from engine.bounds import NumberOutOfRange, js_number
from engine.errors import NodeError
from engine.nodes.base import Field, Node, register
from engine.nodes.values import is_number, json_type

if TYPE_CHECKING:
    from engine.state import NodeContext

Number = int | float

#: an int power whose result would exceed this many bits is computed in floating point
#: instead: exact big integers that large cost time and memory and fit no JSON consumer
_MAX_EXACT_POWER_BITS = 1024


def _add(left: Number, right: Number) -> Number:
    return left + right


def _subtract(left: Number, right: Number) -> Number:
    return left - right


def _multiply(left: Number, right: Number) -> Number:
    return left * right


def _divide(left: Number, right: Number) -> Number:
    if right == 0:
        raise NodeError("division by zero")
    # keep integers integral when they divide exactly (6 / 3 is 2, as in Thaiyyal's JSON)
    if isinstance(left, int) and isinstance(right, int) and left % right == 0:
        return left // right
    return left / right


def _modulo(left: Number, right: Number) -> Number:
    if right == 0:
        raise NodeError("modulo by zero")
    # the sign follows the dividend, as in JavaScript and Go (-7 % 3 is -1)
    if isinstance(left, int) and isinstance(right, int):
        remainder = abs(left) % abs(right)
        return -remainder if left < 0 else remainder
    return math.fmod(left, right)


def _power(left: Number, right: Number) -> Number:
    if left == 0 and right < 0:
        raise NodeError("power: zero cannot be raised to a negative power")
    exact = (isinstance(left, int) and isinstance(right, int) and right >= 0
             and (abs(left) <= 1 or left.bit_length() * right <= _MAX_EXACT_POWER_BITS))
    if exact:
        return left**right
    try:
        result = math.pow(left, right)
    except OverflowError:
        raise NodeError("power: result is too large") from None
    except ValueError:
        raise NodeError(f"power: {left} ** {right} is not a real number") from None
    return result


OPERATIONS: dict[str, Callable[[Number, Number], Number]] = {
    "add": _add,
    "subtract": _subtract,
    "multiply": _multiply,
    "divide": _divide,
    "modulo": _modulo,
    "power": _power,
}


@register
class OperationNode(Node):
    """`op` applied to the first and second input: add, subtract, multiply, divide, modulo,
    power. An unknown `op` fails when the node runs, as in Thaiyyal (saving and validating
    refuse it first)."""

    type_name = "operation"
    fields = (Field("op", "string", required=True, choices=tuple(OPERATIONS), fold_case=True,
                    choices_at_run=True),)

    __slots__ = ("_apply",)

    def setup(self) -> None:
        self._apply = OPERATIONS.get(str(self.config.get("op", "")).lower())

    def run(self, inputs: list[Any], ctx: NodeContext) -> Any:
        if self._apply is None:
            raise NodeError(f"unknown operation: {self.config.get('op')} "
                            f"(expected one of {', '.join(OPERATIONS)})")
        if len(inputs) != 2:
            raise NodeError(f"operation needs 2 inputs, got {len(inputs)}")
        left, right = inputs
        if not (is_number(left) and is_number(right)):
            raise NodeError("operation inputs must be numbers, "
                            f"got {json_type(left)} and {json_type(right)}")
        try:
            result = self._apply(left, right)
        except OverflowError:
            raise NodeError(f"{self.config.get('op')} result is too large") from None
        try:
            return js_number(result, "operation")
        except NumberOutOfRange:
            reason = "too large" if isinstance(result, int) else "not a finite number"
            raise NodeError(f"{self.config.get('op')} result is {reason}") from None
