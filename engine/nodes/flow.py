"""Fan-out and fan-in: `parallel` caps how many branches below it run at once, `join`
gathers branches (waiting for all, or moving on with the first), `split` sends one value
down named paths.

The scheduling itself is the runner's: these nodes only declare what it needs
(`concurrency_cap`, `wants_first_input`) and shape their results like Thaiyyal's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.errors import ExpressionError, ExpressionSyntaxError
from engine.nodes.base import Field, Node, Report, register
from engine.nodes.values import truthy

if TYPE_CHECKING:
    from engine.expressions import Expression
    from engine.state import NodeContext


@register
class ParallelNode(Node):
    """Passes its inputs on; the runner lets at most `max_concurrency` of the I/O nodes
    below it (HTTP calls, delays, nodes with retry/timeout) run at the same time. Branches
    overlap anyway (up to the run's `max_parallel_branches`); this lowers that bound for
    one fan-out, e.g. to spare a slow API."""

    type_name = "parallel"
    fields = (Field("max_concurrency", "integer", default=10),)

    __slots__ = ("_cap",)

    @classmethod
    def check(cls, config: Mapping[str, Any], report: Report) -> None:
        if config["max_concurrency"] < 1:
            report("max_concurrency", "must be at least 1")

    def setup(self) -> None:
        self._cap = self.config["max_concurrency"]

    def concurrency_cap(self) -> int | None:
        return self._cap

    def run(self, inputs: list[Any], ctx: NodeContext) -> Any:
        return {
            "results": list(inputs),
            "count": len(inputs),
            "concurrency": self._cap,
        }


JOIN_STRATEGIES = ("all", "any", "first")


@register
class JoinNode(Node):
    """`all` waits for every branch and lists their results in edge order; `any` and `first`
    run as soon as one branch delivers and take that branch's result (branches finishing
    together: the first in edge order). The branches left behind are cancelled once nothing
    else needs them, so the run ends without waiting for them."""

    type_name = "join"
    fields = (Field("join_strategy", "string", default="all", choices=JOIN_STRATEGIES,
                    aliases=("strategy",), fold_case=True,
                    unsupported="unsupported join strategy: {value}"),)

    __slots__ = ("_strategy",)

    def setup(self) -> None:
        self._strategy = self.config["join_strategy"]

    @property
    def wants_first_input(self) -> bool:  # type: ignore[override]
        # Per instance: the runner reads it from the node, and only all-joins wait.
        return self._strategy != "all"

    def run(self, inputs: list[Any], ctx: NodeContext) -> Any:
        if self._strategy == "all":
            return {"strategy": "all", "values": list(inputs), "count": len(inputs)}
        value = inputs[0] if inputs else None
        if self._strategy == "any":
            return {"strategy": "any", "value": value, "count": len(inputs)}
        return {"strategy": "first", "value": value}


@dataclass(frozen=True, slots=True)
class _Path:
    name: str
    condition: Expression | None = None


def _path_entry(entry: Any) -> tuple[str | None, Any]:
    """(name, condition text or None) of one `paths` entry; name None when malformed."""
    if isinstance(entry, str):
        return entry or None, None
    if isinstance(entry, Mapping):
        name = entry.get("name", entry.get("output_path", entry.get("path")))
        condition = entry.get("condition", entry.get("when"))
        return (name if isinstance(name, str) and name else None), condition
    return None, None


def _compile(text: str) -> Expression:
    from engine.expressions import compile_expression  # the compiler loads on first use

    return compile_expression(text)


@register
class SplitNode(Node):
    """Sends its input down named paths: an edge leaving with `sourceHandle` equal to a
    path's name fires when that path is active. A plain name is always active (Thaiyyal's
    copy-to-every-path); `{"name": "big", "condition": "input > 100"}` is active when the
    condition holds for the input, so split routes like a switch that can pick several."""

    type_name = "split"
    fields = (Field("paths", "array", default=["path1", "path2"]),)

    __slots__ = ("_paths",)

    @classmethod
    def check(cls, config: Mapping[str, Any], report: Report) -> None:
        seen: set[str] = set()
        for i, entry in enumerate(config["paths"]):
            name, condition = _path_entry(entry)
            if name is None:
                report(f"paths[{i}]", "must be a path name or {\"name\", \"condition\"}")
                continue
            if name in seen:
                report(f"paths[{i}]", f"duplicate path {name!r}")
            seen.add(name)
            if condition is None:
                continue
            if not isinstance(condition, str):
                report(f"paths[{i}].condition", "must be an expression string")
                continue
            try:
                _compile(condition)
            except ExpressionSyntaxError as exc:
                report(f"paths[{i}].condition",
                       f"expression syntax error at column {exc.column}: {exc.reason}")

    def setup(self) -> None:
        paths = []
        for entry in self.config["paths"]:
            name, condition = _path_entry(entry)
            assert name is not None  # check() refused anything else
            paths.append(_Path(name, _compile(condition) if condition else None))
        self._paths = tuple(paths)

    def run(self, inputs: list[Any], ctx: NodeContext) -> Any:
        value = inputs[0] if inputs else None
        active = [p.name for p in self._paths if self._active(p, value, ctx)]
        # `outputs` holds the active paths only: edges fire on its keys
        return {
            "value": value,
            "paths": [p.name for p in self._paths],
            "outputs": dict.fromkeys(active, value),
        }

    @staticmethod
    def _active(path: _Path, value: Any, ctx: NodeContext) -> bool:
        if path.condition is None:
            return True
        try:
            return truthy(path.condition.evaluate(ctx.scope, input=value))
        except ExpressionError:
            return False  # as condition nodes do: a failing test is "not this path"

    def fires(self, result: Any, handle: str) -> bool:
        outputs = result.get("outputs") if isinstance(result, dict) else None
        return isinstance(outputs, dict) and handle in outputs
