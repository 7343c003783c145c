"""`for_each` and `while_loop`. Thaiyyal only counts; ours runs a `body` sub-workflow when
one is given (per item, or while the condition holds), inside the same run: same deadline,
limits and state. Both are bounded by their own `max_iterations` and by the run's
`max_loop_iterations`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.errors import (
    Cancelled,
    ExecutionError,
    ExpressionError,
    LimitExceeded,
    NodeError,
    NodeTimeout,
)
from engine.nodes.base import Field, Node, register
from engine.nodes.iteration import array_input
from engine.nodes.values import truthy

if TYPE_CHECKING:
    from engine.state import NodeContext

#: failures that stop the whole run, never counted as one failed iteration
_FATAL = (LimitExceeded, NodeTimeout, Cancelled)


def _max_iterations(configured: Any, default: int) -> int:
    # Thaiyyal: a missing, zero or negative max_iterations means the default
    return configured if isinstance(configured, int) and configured > 0 else default


def _too_many(max_iterations: int, ctx: NodeContext, error: str,
              detail: str) -> ExecutionError:
    """The error for going past `max_iterations` (NodeError `error`), or past the run's
    `max_loop_iterations` when that is the lower bound (LimitExceeded with `detail`)."""
    limit = ctx.limits.max_loop_iterations
    if max_iterations <= limit:
        return NodeError(error)
    return LimitExceeded("max_loop_iterations", limit, ctx.node_id, detail)


@register
class ForEachNode(Node):
    """Iterates over an array. Without `body` it only counts, as Thaiyyal does; with one it
    runs the body once per item (`item`, `index` set) and collects each body's output in
    `results`. A failing iteration is counted in `failed` (its result is null, its error
    listed in `errors`); running out of time or a limit stops the run."""

    type_name = "for_each"
    fields = (Field("max_iterations", "integer", default=1000), Field("body", "workflow"))

    __slots__ = ("_max", "_body")

    def setup(self) -> None:
        self._max = _max_iterations(self.config.get("max_iterations"), 1000)
        self._body = self.config.get("body")

    def run(self, inputs: list[Any], ctx: NodeContext) -> Any:
        items = array_input("for_each", inputs)
        count = len(items)
        if count > min(self._max, ctx.limits.max_loop_iterations):
            raise _too_many(self._max, ctx,
                            f"for_each exceeds max iterations: {count} > {self._max}",
                            f"for_each over {count} items")
        if self._body is None:
            return {"input_count": count, "iterations": count, "successful": count,
                    "failed": 0}
        return self._run_body(items, ctx)

    def _run_body(self, items: list[Any], ctx: NodeContext) -> dict[str, Any]:
        results: list[Any] = []
        errors: list[dict[str, Any]] = []
        for index, item in enumerate(items):
            ctx.check_deadline()
            try:
                results.append(ctx.run_body(self._body, item, item=item, index=index))
            except _FATAL:
                raise
            except (ExecutionError, ExpressionError) as exc:
                results.append(None)
                errors.append({"index": index, "error": str(exc)})
        envelope: dict[str, Any] = {
            "input_count": len(items),
            "iterations": len(items),
            "successful": len(items) - len(errors),
            "failed": len(errors),
            "results": results,
        }
        if errors:
            envelope["errors"] = errors
        return envelope


@register
class WhileLoopNode(Node):
    """Repeats while `condition` holds. Without `body` (Thaiyyal's behaviour) nothing changes
    the value, so a condition true at the start fails with `while_loop exceeded max
    iterations: N`. With a body, each iteration runs it on the current value and the
    condition is evaluated again on the body's output."""

    type_name = "while_loop"
    fields = (
        Field("condition", "expression", required=True),
        Field("max_iterations", "integer", default=100),
        Field("body", "workflow"),
    )

    __slots__ = ("_condition", "_max", "_body")

    def setup(self) -> None:
        self._condition = self.config["condition"]
        self._max = _max_iterations(self.config.get("max_iterations"), 100)
        self._body = self.config.get("body")

    def run(self, inputs: list[Any], ctx: NodeContext) -> Any:
        if not inputs:
            raise NodeError("while_loop node needs at least 1 input")
        value = inputs[0]
        cap = min(self._max, ctx.limits.max_loop_iterations)
        iterations = 0
        while self._holds(value, ctx):
            if iterations >= cap or self._body is None:
                detail = (f"while_loop condition still true after {iterations} iterations"
                          if self._body is not None
                          else "while_loop has no body and its condition is true")
                raise _too_many(self._max, ctx,
                                f"while_loop exceeded max iterations: {self._max}", detail)
            value = ctx.run_body(self._body, value, index=iterations)
            iterations += 1
        return {"final_value": value, "iterations": iterations,
                "condition": self._condition.source}

    def _holds(self, value: Any, ctx: NodeContext) -> bool:
        ctx.check_deadline()
        return truthy(self._condition.evaluate(ctx.scope, input=value))
