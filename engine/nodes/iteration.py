"""`filter`, `map` and `reduce`: one expression over every item of an array.

They use the expression batch APIs (`Expression.filter/map/reduce`), which evaluate a whole
array in one call at close to list-comprehension speed; per-item evaluation is only the
fallback that reproduces Thaiyyal's per-item error accounting once a batch reports one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from engine.errors import ExpressionError, NodeError
from engine.nodes.base import Field, Node, Report, register
from engine.nodes.values import find_array, json_type

if TYPE_CHECKING:
    from engine.expressions import Expression
    from engine.state import NodeContext

#: how many items the per-item fallbacks evaluate between two deadline checks
_DEADLINE_EVERY = 256


def array_input(node: str, inputs: list[Any]) -> list[Any]:
    """The array of the first input: the input itself, or the array inside an upstream
    envelope (see `find_array`; Thaiyyal's map and reduce take bare arrays only)."""
    if not inputs:
        raise NodeError(f"{node} node needs at least 1 input")
    items = find_array(inputs[0])
    if items is None:
        raise NodeError(f"{node} node requires array input, got {json_type(inputs[0])}")
    return items


@register
class FilterNode(Node):
    """Keeps the items for which `condition` is true. The input is an array, or an object
    holding one under range/array/items/data/values; anything else passes through with
    `is_array: false`. An item whose condition fails to evaluate is skipped and counted."""

    type_name = "filter"
    # `filter {expression}` is the form the docs use
    fields = (Field("condition", "expression", required=True, aliases=("expression",)),)
    nesting = 1  # kept items (or the input) in an envelope

    __slots__ = ("_condition",)

    def setup(self) -> None:
        self._condition = self.config["condition"]

    def run(self, inputs: list[Any], ctx: NodeContext) -> Any:
        if not inputs:
            raise NodeError("filter node needs at least 1 input")
        value = inputs[0]
        items = find_array(value)
        if items is None:
            return {
                "input": value,
                "filtered": value,
                "is_array": False,
                "warning": "input is not an array, passed through unchanged",
                "original_type": json_type(value),
            }
        ctx.check_deadline()
        kept, error_count = self._condition.filter(items, ctx.scope, input=value)
        return {
            "filtered": kept,
            "input_count": len(items),
            "output_count": len(kept),
            "skipped_count": len(items) - len(kept),
            "error_count": error_count,
            "condition": self._condition.source,
            "is_array": True,
        }


@register
class MapNode(Node):
    """Transforms every item of an array with `expression`, or picks `field` from every
    object. An item that fails becomes null in `results` and is counted in `failed`."""

    type_name = "map"
    fields = (Field("expression", "expression"), Field("field", "string"))

    __slots__ = ("_expr", "_field")

    @classmethod
    def check(cls, config: Mapping[str, Any], report: Report) -> None:
        has_expression = config.get("expression") is not None
        has_field = bool(config.get("field"))
        if not has_expression and not has_field:
            report("expression",
                   "map node requires either 'expression' or 'field' to be specified")
        elif has_expression and has_field:
            report("field",
                   "map node cannot have both 'expression' and 'field' specified, choose one")

    def setup(self) -> None:
        self._expr: Expression | None = self.config.get("expression")
        self._field: str | None = self.config.get("field") or None

    def result_nesting(self) -> int | None:
        if self._expr is None:
            return 1  # picked fields, in a list, in an envelope
        return None if self._expr.nesting is None else self._expr.nesting + 2

    def run(self, inputs: list[Any], ctx: NodeContext) -> Any:
        items = array_input("map", inputs)
        ctx.check_deadline()
        if self._field is not None:
            results, failed = self._pick_field(items)
        elif self._expr is not None:
            results, failed = self._expr.map(items, ctx.scope, input=items)
            if failed:
                results = _map_each(self._expr, items, ctx)
        else:
            raise NodeError("map node requires either 'expression' or 'field' to be specified")
        return {
            "results": results,
            "input_count": len(items),
            "output_count": len(results),
            "successful": len(items) - failed,
            "failed": failed,
        }

    def _pick_field(self, items: list[Any]) -> tuple[list[Any], int]:
        field = self._field
        results: list[Any] = []
        failed = 0
        for item in items:
            if isinstance(item, dict) and field in item:
                results.append(item[field])
            else:  # Thaiyyal: not an object, or no such key
                results.append(None)
                failed += 1
        return results, failed


def _map_each(expr: Expression, items: list[Any], ctx: NodeContext) -> list[Any]:
    """Per-item map keeping positions: a failed item becomes null, as in Thaiyyal."""
    scope = ctx.scope
    results = []
    for index, item in enumerate(items):
        if index % _DEADLINE_EVERY == 0:
            ctx.check_deadline()
        try:
            results.append(expr.evaluate(scope, input=items, item=item, index=index,
                                         items=items))
        except ExpressionError:
            results.append(None)
    return results


@register
class ReduceNode(Node):
    """Folds an array into one value: `expression` computes the next `accumulator` from it
    and `item`, starting at `initial_value` (0 when absent). An item whose expression fails
    is skipped (the accumulator is kept) and counted in `failed`."""

    type_name = "reduce"
    fields = (Field("expression", "expression", required=True), Field("initial_value", "any"))

    __slots__ = ("_expr",)

    def setup(self) -> None:
        self._expr = self.config["expression"]

    def result_nesting(self) -> int | None:
        # A step that nests the accumulator can nest it once per item: measure those.
        return 1 if self._expr.nesting == 0 else None

    def run(self, inputs: list[Any], ctx: NodeContext) -> Any:
        items = array_input("reduce", inputs)
        initial = self.config.get("initial_value")
        start = 0 if initial is None else initial
        ctx.check_deadline()
        try:
            result = self._expr.reduce(items, start, ctx.scope, input=items)
            failed = 0
        except ExpressionError:
            result, failed = _reduce_each(self._expr, items, start, ctx)
        return {
            "result": result,
            "initial_value": initial,
            "final_value": result,
            "input_count": len(items),
            "iterations": len(items),
            "successful": len(items) - failed,
            "failed": failed,
        }


def _reduce_each(expr: Expression, items: list[Any], start: Any,
                 ctx: NodeContext) -> tuple[Any, int]:
    """Per-item reduce that skips failing items, as Thaiyyal does."""
    scope = ctx.scope
    accumulator, failed = start, 0
    for index, item in enumerate(items):
        if index % _DEADLINE_EVERY == 0:
            ctx.check_deadline()
        try:
            accumulator = expr.evaluate(scope, input=items, item=item, index=index,
                                        items=items, accumulator=accumulator)
        except ExpressionError:
            failed += 1
    return accumulator, failed
