"""`retry`, `timeout` and `try_catch`: resilience as nodes in the graph.

Thaiyyal's versions only inspect their input. Ours act on the work upstream:

- `retry` and `timeout` lend their settings, at load, to the nearest upstream nodes that do
  work (see `engine.payload.apply_upstream_policies`), so `http -> retry` re-executes the
  HTTP call and `http -> timeout` bounds it, exactly like `data.retry` / `data.timeout` on
  the http node itself. At run time they pass the (eventually successful) value on.
- `try_catch` receives an upstream node's real failure (the runner delivers it as a
  `Failure` input instead of failing the run) and turns it into a fallback value.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from engine.errors import ExecutionError, NodeError, go_duration
from engine.nodes.base import Failure, Field, Node, Report, register
from engine.policy import BACKOFFS, NodePolicy, RetryPolicy

if TYPE_CHECKING:
    from engine.state import NodeContext

#: failures no node may swallow: the run is out of budget or being stopped
UNCATCHABLE = frozenset({"limit_exceeded", "cancelled"})


def rethrow(failure: Failure, node_id: str) -> ExecutionError:
    """An error carrying an upstream failure on, keeping its code (so a limit stays a limit)."""
    error = ExecutionError(f"node {failure.node_id!r} failed: {failure.message}", node_id)
    error.code = failure.code
    return error


def _error_envelope(value: Any) -> str | None:
    """The message of a Thaiyyal-style `{"error": ...}` result, else None."""
    if isinstance(value, dict) and "error" in value and value["error"] is not None:
        error = value["error"]
        return error if isinstance(error, str) else str(error)
    return None


@register
class RetryNode(Node):
    """Re-executes its upstream node on failure (up to `max_attempts`, with backoff between
    attempts); passes the successful value on as Thaiyyal's `{value, attempts: 1, success:
    true}` (the upstream node's own record in `nodes[]` says how many attempts it took)."""

    type_name = "retry"
    fields = (
        Field("max_attempts", "integer", default=3),
        Field("backoff_strategy", "string", default="exponential", choices=BACKOFFS,
              aliases=("backoff",), fold_case=True),
        Field("initial_delay", "duration", default=1.0),
        Field("max_delay", "duration", default=30.0),
        Field("multiplier", "number", default=2.0),
        Field("jitter", "boolean", default=False),
        Field("retry_on_errors", "array", default=[], aliases=("retry_on",)),
    )

    __slots__ = ("_policy",)

    @classmethod
    def check(cls, config: Mapping[str, Any], report: Report) -> None:
        if not 1 <= config["max_attempts"] <= 100:
            report("max_attempts", "must be from 1 to 100")
        if config["multiplier"] < 1:
            report("multiplier", "must be at least 1")
        if not all(isinstance(p, str) and p for p in config["retry_on_errors"]):
            report("retry_on_errors", "must list error codes or message fragments (strings)")

    def setup(self) -> None:
        c = self.config
        self._policy = NodePolicy(retry=RetryPolicy(
            max_attempts=c["max_attempts"], backoff=c["backoff_strategy"],
            initial_delay=c["initial_delay"], max_delay=c["max_delay"],
            multiplier=float(c["multiplier"]), jitter=c["jitter"],
            retry_on=tuple(c["retry_on_errors"])))

    def upstream_policy(self) -> NodePolicy | None:
        return self._policy

    def run(self, inputs: list[Any], ctx: NodeContext) -> Any:
        if not inputs:
            raise NodeError("retry node requires at least one input")
        message = _error_envelope(inputs[0])
        if message is not None:
            # The upstream node succeeded with an error result: running it again would give
            # the same answer, so there is nothing to retry.
            raise NodeError(f"upstream returned an error result: {message}")
        return {"value": inputs[0], "attempts": 1, "success": True}


TIMEOUT_ACTIONS = ("error", "continue_with_partial")


@register
class TimeoutNode(Node):
    """Bounds each attempt of its upstream node to `timeout`. With `timeout_action:
    continue_with_partial` a timed-out upstream does not fail the run: this node yields
    `{value: null, timed_out: true, partial_result: true}` instead."""

    type_name = "timeout"
    fields = (
        Field("timeout", "duration", default=30.0),
        Field("timeout_action", "string", default="error", choices=TIMEOUT_ACTIONS,
              fold_case=True),
    )

    __slots__ = ("_seconds", "_continue")

    @classmethod
    def check(cls, config: Mapping[str, Any], report: Report) -> None:
        if config["timeout"] <= 0:
            report("timeout", "must be greater than zero")

    def setup(self) -> None:
        self._seconds = self.config["timeout"]
        self._continue = self.config["timeout_action"] == "continue_with_partial"

    @property
    def catches_errors(self) -> bool:  # type: ignore[override]
        # Only a continuing timeout needs to see the upstream failure.
        return self._continue

    def upstream_policy(self) -> NodePolicy | None:
        return NodePolicy(timeout=self._seconds)

    def run(self, inputs: list[Any], ctx: NodeContext) -> Any:
        if not inputs:
            raise NodeError("timeout node requires at least one input")
        failure = next((i for i in inputs if isinstance(i, Failure)), None)
        if failure is None:
            return self._result(inputs[0], timed_out=False)
        if failure.code != "timeout":
            raise rethrow(failure, self.id)
        return {**self._result(None, timed_out=True), "timeout_exceeded": True,
                "partial_result": True}

    def _result(self, value: Any, timed_out: bool) -> dict[str, Any]:
        # Thaiyyal's keys, durations as Go prints them; `execution_time` is the input's own
        # `execution_time` when it reports one, else 0s (as in Thaiyyal)
        reported = value.get("execution_time") if isinstance(value, dict) else None
        return {"value": value, "timeout_duration": go_duration(self._seconds),
                "execution_time": reported if isinstance(reported, str) else "0s",
                "timed_out": timed_out}


@register
class TryCatchNode(Node):
    """Catches a failure of the node(s) before it: the run goes on with `fallback_value`.

    Without a failure it passes the first input on (`error_caught: false`). A Thaiyyal-style
    `{"error": ...}` result counts as a failure too. Limits and cancellation are never
    caught. Edges can branch on the outcome: `sourceHandle` `success`, or
    `error_output_path` (default `error`)."""

    type_name = "try_catch"
    catches_errors = True
    fields = (
        Field("fallback_value", "any"),
        Field("continue_on_error", "boolean", default=True),
        Field("error_output_path", "string"),
    )

    __slots__ = ("_fallback", "_continue", "_error_path")

    def setup(self) -> None:
        self._fallback = self.config["fallback_value"]
        self._continue = self.config["continue_on_error"]
        self._error_path = self.config["error_output_path"]

    def run(self, inputs: list[Any], ctx: NodeContext) -> Any:
        if not inputs:
            raise NodeError("try-catch node requires at least one input")
        failure = next((i for i in inputs if isinstance(i, Failure)), None)
        if failure is not None:
            if failure.code in UNCATCHABLE:
                raise rethrow(failure, self.id)
            return self._caught(failure.message, failure.node_id)
        message = _error_envelope(inputs[0])
        if message is not None:
            return self._caught(message)
        return {"value": inputs[0], "error_caught": False}

    def _caught(self, message: str, failed_node: str | None = None) -> dict[str, Any]:
        if not self._continue:
            raise NodeError(f"error caught: {message}")
        if failed_node is not None:  # Thaiyyal's words for a failed node: they name it
            message = f"error executing node {failed_node}: {message}"
        result = {"value": self._fallback, "error_caught": True, "error_message": message}
        if self._error_path:
            result["error_output_path"] = self._error_path
        return result

    def fires(self, result: Any, handle: str) -> bool:
        """Handle `success` fires when nothing was caught; `error_output_path` (default
        `error`) when something was. (Ours: Thaiyyal's try_catch has no branching.)"""
        if not isinstance(result, dict):
            return False
        if result.get("error_caught"):
            return handle == (self._error_path or "error")
        return handle == "success"
