"""What a node type is: declared data fields, load-time checks, and a `run` method.

Each node family module defines small `Node` subclasses and registers them with
`@register`. The payload loader validates a node's `data` against the declared
`fields` (reporting every problem with its JSON path), compiles expression fields
once, and builds one immutable instance per node. The runner then calls
`run(inputs, ctx)` for every execution, possibly from several threads at once:
`run` must not mutate the instance; per-run state lives in `ctx`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from engine.policy import NodePolicy
    from engine.state import NodeContext

#: kinds a Field may declare; the loader checks and converts values accordingly
FIELD_KINDS = frozenset({
    "any",         # anything JSON
    "string",
    "number",      # int or float (bool refused); numeric strings accepted and converted
    "integer",     # int (or a float/str holding an integral value)
    "boolean",     # bool; "true"/"false" strings accepted
    "array",
    "object",
    "expression",  # a string compiled by engine.expressions at load
    "duration",    # seconds as number, or "500ms" / "30s" / "10m"; stored as float seconds
    "workflow",    # a sub-workflow payload (loop bodies); stored as a loaded Workflow
})


@dataclass(frozen=True, slots=True)
class Field:
    """One key of a node's `data`. `aliases` are other accepted spellings (first one found wins)."""

    name: str
    kind: str = "any"
    required: bool = False
    default: Any = None
    choices: tuple[Any, ...] = ()
    aliases: tuple[str, ...] = ()
    #: choices compared case-insensitively and stored lower-cased (Thaiyyal's editor varies case)
    fold_case: bool = False
    #: the loader lets other values through (Thaiyyal fails them only when the node runs);
    #: saving and validating still refuse them, naming the choices (engine.catalog)
    choices_at_run: bool = False
    #: Thaiyyal's words for a value not among `choices`, `{value}` standing for it
    #: ("unsupported output type: {value}"): the load error starts with them, so clients
    #: matching Thaiyyal's message still match
    unsupported: str = ""

    def __post_init__(self) -> None:
        if self.kind not in FIELD_KINDS:
            raise ValueError(f"unknown field kind {self.kind!r}")


#: report(field_name, message): how `Node.check` reports a problem on one of its fields
Report = Callable[[str, str], None]


class Node(ABC):
    """Base of every node type.

    Subclasses set `type_name` and `fields`, may override `check` for cross-field rules,
    `setup` to derive attributes from `config`, and implement `run`.
    """

    type_name: ClassVar[str]
    fields: ClassVar[tuple[Field, ...]] = ()
    #: waits on I/O or time: the runner runs it on the branch thread pool
    io_bound: ClassVar[bool] = False
    #: receives upstream failures as `Failure` inputs instead of the run failing (try_catch)
    catches_errors: ClassVar[bool] = False
    #: runs as soon as one input is ready instead of waiting for all (join any/first)
    wants_first_input: ClassVar[bool] = False
    #: holds values for `context.<name>` (context_variable / context_constant)
    is_context: ClassVar[bool] = False
    #: at most how many levels of nesting a result has beyond the deepest of its inputs and
    #: its own data; None (unknown: the result is measured) for nodes whose results come from
    #: elsewhere (state, loops, the network). See `result_nesting`.
    nesting: ClassVar[int | None] = None

    __slots__ = ("id", "config")

    def __init__(self, node_id: str, config: Mapping[str, Any]) -> None:
        self.id = node_id
        self.config = config
        self.setup()

    @classmethod
    def check(cls, config: Mapping[str, Any], report: Report) -> None:
        """Cross-field validation at load time, after each field was checked on its own."""
        return None

    def setup(self) -> None:
        """Derive attributes from `self.config` once, at load."""
        return None

    def given(self, name: str, default: Any = None) -> Any:
        """Field `name` as the user wrote it (before conversion), or `default` when absent:
        Thaiyyal's results echo some fields that way (a cache `ttl` of `"10m"`)."""
        value = self.config.get("_given", {}).get(name)
        return default if value is None else value

    @abstractmethod
    def run(self, inputs: list[Any], ctx: NodeContext) -> Any:
        """Execute once. `inputs` are the results of firing upstream nodes in edge order.
        Raise `NodeError` (or let `ExpressionError` propagate) on failure."""

    def fires(self, result: Any, handle: str) -> bool:
        """Whether an edge leaving this node through `handle` fires for `result`.

        Thaiyyal's rule: the result's `path` (condition) or `output_path` (switch) equals
        the handle; handles true/false also follow `condition_met`/`true_path`/`false_path`.
        """
        if not isinstance(result, dict):
            return False
        if result.get("path") == handle or result.get("output_path") == handle:
            return True
        if handle == "true":
            return bool(result.get("true_path", result.get("condition_met", False)))
        if handle == "false":
            return bool(result.get("false_path", not result.get("condition_met", True)))
        return False

    def result_nesting(self) -> int | None:
        """This node's `nesting` (a node whose bound depends on its expression overrides
        it). The runner trusts it to skip measuring results: never underestimate."""
        return self.nesting

    def concurrency_cap(self) -> int | None:
        """For `parallel`: how many nodes below it may run at once (None: no cap)."""
        return None

    def upstream_policy(self) -> NodePolicy | None:
        """For `retry` / `timeout` nodes: a policy the loader applies to the nearest upstream
        nodes that do work (their own `data.retry` wins; the tightest timeout wins)."""
        return None

    def context_values(self) -> dict[str, Any]:
        """For context nodes: the `context.<name>` values this node defines."""
        return {}


NODE_TYPES: dict[str, type[Node]] = {}


def register(cls: type[Node]) -> type[Node]:
    """Class decorator: make `cls` available under its `type_name`."""
    name = cls.type_name
    if name in NODE_TYPES:
        raise ValueError(f"node type {name!r} registered twice")
    NODE_TYPES[name] = cls
    return cls


@dataclass(frozen=True, slots=True)
class Failure:
    """An upstream node's failure, delivered as an input to a node that `catches_errors`."""

    node_id: str
    message: str
    code: str
