"""State nodes: `variable`, `extract`, `transform`, `accumulator` and `counter`.

Variables, accumulators and counters live in the run's `RunState`, shared by every node
of the run (and of its loop bodies); nodes may run on several threads, so every read-modify-
write of that state happens under `state.lock`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from engine.bounds import js_number
from engine.errors import NodeError
from engine.nodes.arrays import check_array_length, check_string_length
from engine.nodes.base import Field, Node, Report, register
from engine.nodes.values import MISSING, is_number, json_type, lookup_path

if TYPE_CHECKING:
    from engine.state import NodeContext

_MISSING = object()


@register
class VariableNode(Node):
    """`set` stores the first input under `var_name` for the rest of the run (and for
    `variables.<name>` in expressions); `get` reads it back."""

    type_name = "variable"
    fields = (
        Field("var_name", "string", required=True),
        Field("var_op", "string", required=True, choices=("get", "set"), fold_case=True,
              unsupported="unsupported variable operation: {value}"),
    )

    @classmethod
    def check(cls, config: Mapping[str, Any], report: Report) -> None:
        if not config.get("var_name"):
            report("var_name", "variable node requires a non-empty var_name")

    def run(self, inputs: list[Any], ctx: NodeContext) -> Any:
        name = self.config["var_name"]
        state = ctx.state
        if self.config["var_op"] == "set":
            if not inputs:
                raise NodeError("variable set operation requires input value")
            value = inputs[0]
            with state.lock:
                state.variables[name] = value
            return {"var_name": name, "operation": "set", "value": value}
        with state.lock:
            value = state.variables.get(name, _MISSING)
        if value is _MISSING:
            raise NodeError(f"variable '{name}' not found")
        return {"var_name": name, "operation": "get", "value": value}


def lookup(value: Any, path: str) -> Any:
    """`value[path]`, or, when there is no such key, the dotted path (`a.b[0].c`,
    `a.b.0.c`: see `lookup_path`). Returns `_MISSING` when neither leads anywhere."""
    if isinstance(value, dict) and path in value:
        return value[path]
    if "." not in path and "[" not in path:
        return _MISSING
    found = lookup_path(value, path)
    return _MISSING if found is MISSING else found


@register
class ExtractNode(Node):
    """Picks from an object: `field` -> `{field, value}` (a missing field fails), or
    `fields` -> an object of the fields present. A name that is not a key is tried as a
    dotted path (`user.address.city`, `items.0.id`)."""

    type_name = "extract"
    fields = (Field("field", "string"), Field("fields", "array"))

    @classmethod
    def check(cls, config: Mapping[str, Any], report: Report) -> None:
        names = config.get("fields")
        if config.get("field") is None and not names:
            report("field", "extract node requires 'field' or 'fields' configuration")
        for index, name in enumerate(names or ()):
            if not isinstance(name, str):
                report("fields", f"fields[{index}] must be a string, got {json_type(name)}")

    def run(self, inputs: list[Any], ctx: NodeContext) -> Any:
        if not inputs:
            raise NodeError("extract node requires input")
        value = inputs[0]
        if not isinstance(value, dict):
            raise NodeError(f"extract node requires object input, got {json_type(value)}")
        field = self.config.get("field")
        if field is not None:
            found = lookup(value, field)
            if found is _MISSING:
                raise NodeError(f"field '{field}' not found in input object")
            return {"field": field, "value": found}
        picked = {}
        for name in self.config.get("fields") or ():
            found = lookup(value, name)
            if found is not _MISSING:
                picked[name] = found
        return picked


_TRANSFORM_TYPES = ("to_array", "to_object", "flatten", "keys", "values")


@register
class TransformNode(Node):
    """Reshapes data. Thaiyyal's `transform_type`: `to_array` (all inputs as one array),
    `to_object` (alternating key, value array -> object), `flatten` (nested arrays, fully),
    `keys`, `values`. Or an `expression` evaluated on the first input, whose value is the
    result (e.g. `map(input.values, item.id)`)."""

    type_name = "transform"
    fields = (
        Field("transform_type", "string", choices=_TRANSFORM_TYPES,
              unsupported="unsupported transform type: {value}"),
        Field("expression", "expression"),
    )

    __slots__ = ("_expr",)

    @classmethod
    def check(cls, config: Mapping[str, Any], report: Report) -> None:
        has_type = config.get("transform_type") is not None
        has_expression = config.get("expression") is not None
        if not has_type and not has_expression:
            report("transform_type", "transform node requires 'transform_type' or 'expression'")
        elif has_type and has_expression:
            report("expression", "transform node takes either 'transform_type' or "
                                 "'expression', not both")

    def setup(self) -> None:
        self._expr = self.config.get("expression")

    def run(self, inputs: list[Any], ctx: NodeContext) -> Any:
        if not inputs:
            raise NodeError("transform node requires input")
        if self._expr is not None:
            return self._expr.evaluate(ctx.scope, input=inputs[0])
        kind = self.config.get("transform_type")
        if kind == "to_array":
            check_array_length(ctx, len(inputs), "to_array result")
            return list(inputs)
        if kind == "to_object":
            return _to_object(inputs[0])
        if kind == "flatten":
            return _flatten(inputs[0], ctx)
        if kind == "keys":
            return list(_object_input("keys", inputs[0]))
        if kind == "values":
            return list(_object_input("values", inputs[0]).values())
        raise NodeError(f"unsupported transform type: {kind}")


def _object_input(kind: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise NodeError(f"{kind} transform requires object input, got {json_type(value)}")
    return value


def _to_object(value: Any) -> dict[str, Any]:
    if not isinstance(value, list):
        raise NodeError(f"to_object requires array input, got {json_type(value)}")
    result = {}
    # pairs (key, value); a trailing key without a value is ignored, as in Thaiyyal
    for index in range(0, len(value) - 1, 2):
        key = value[index]
        if not isinstance(key, str):
            raise NodeError(f"to_object requires string keys at index {index}")
        result[key] = value[index + 1]
    return result


def _flatten(value: Any, ctx: NodeContext) -> list[Any]:
    if not isinstance(value, list):
        raise NodeError(f"flatten requires array input, got {json_type(value)}")
    flat: list[Any] = []
    # an explicit stack of iterators: nesting depth must not hit Python's recursion limit
    stack = [iter(value)]
    limit = ctx.limits.max_array_length
    while stack:
        for item in stack[-1]:
            if isinstance(item, list):
                stack.append(iter(item))
                break
            flat.append(item)
            if len(flat) > limit:
                check_array_length(ctx, len(flat), "flatten result")
        else:
            stack.pop()
    return flat


_ACCUMULATOR_START = {"sum": 0, "count": 0, "product": 1, "concat": "", "array": []}


@register
class AccumulatorNode(Node):
    """Accumulates its first input across executions within one run (e.g. in a loop body):
    `sum`, `product`, `concat` (strings), `array` (collects), `count`. Without an input it
    reports the current value. Each accumulator node keeps its own value."""

    type_name = "accumulator"
    fields = (
        Field("accum_op", "string", required=True, choices=tuple(_ACCUMULATOR_START),
              unsupported="unsupported accumulator operation: {value}"),
        Field("initial_value", "any"),
    )

    @classmethod
    def check(cls, config: Mapping[str, Any], report: Report) -> None:
        initial = config.get("initial_value")
        if initial is None:
            return
        op = config["accum_op"]
        wanted = {"sum": "number", "count": "number", "product": "number", "concat": "string",
                  "array": "array"}[op]
        if json_type(initial) != wanted:
            report("initial_value", f"{op} accumulator needs a {wanted} initial_value, "
                                    f"got {json_type(initial)}")

    def run(self, inputs: list[Any], ctx: NodeContext) -> Any:
        op = self.config["accum_op"]
        state = ctx.state
        with state.lock:
            current = state.accumulators.get(self.id, _MISSING)
            if current is _MISSING:
                initial = self.config.get("initial_value")
                current = _ACCUMULATOR_START[op] if initial is None else initial
                state.accumulators[self.id] = current
            if not inputs:
                return {"operation": op, "value": current}
            value = _accumulate(op, current, inputs[0], ctx)
            state.accumulators[self.id] = value
        return {"operation": op, "value": value}


def _accumulate(op: str, current: Any, value: Any, ctx: NodeContext) -> Any:
    if op == "count":
        return current + 1
    if op == "array":
        check_array_length(ctx, len(current) + 1, "accumulated array")
        # a new list: the previous result (already handed downstream) must not change
        return [*current, value]
    if op == "concat":
        if not isinstance(value, str):
            raise NodeError(f"concat accumulator requires string input, got {json_type(value)}")
        check_string_length(ctx, len(current) + len(value), "accumulated string")
        return current + value
    if not is_number(value):
        raise NodeError(f"{op} accumulator requires numeric input, got {json_type(value)}")
    return js_number(current + value if op == "sum" else current * value, f"{op} accumulator")


@register
class CounterNode(Node):
    """A number shared by the counter nodes of a run: `increment`/`decrement` by `delta`
    (1), `reset` to `initial_value` (0), `get`. The counter starts at `initial_value` the
    first time a run touches it. `counter_name` keeps separate counters apart."""

    type_name = "counter"
    fields = (
        Field("counter_op", "string", required=True,
              choices=("increment", "decrement", "reset", "get"), fold_case=True,
              unsupported="unsupported counter operation: {value}"),
        Field("delta", "number", default=1),
        Field("initial_value", "number"),
        Field("counter_name", "string", default=""),
    )

    def run(self, inputs: list[Any], ctx: NodeContext) -> Any:
        op = self.config["counter_op"]
        initial = self.config.get("initial_value")
        start = 0 if initial is None else initial
        delta = self.config.get("delta")
        delta = 1 if delta is None else delta
        name = self.config.get("counter_name") or ""
        state = ctx.state
        with state.lock:
            value = state.counters.get(name, start)
            if op == "increment":
                value = js_number(value + delta, "counter")
            elif op == "decrement":
                value = js_number(value - delta, "counter")
            elif op == "reset":
                value = start
            state.counters[name] = value
        return {"operation": op, "value": value}
