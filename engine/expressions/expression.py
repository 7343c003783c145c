"""Expression: a compiled expression with its evaluate/filter/map/reduce entry points."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from engine.errors import ExpressionError, ExpressionSyntaxError, ThaiyyalError

from .compiler import Program, build_batch, build_evaluate, generate
from .functions import FUNCTIONS
from .parser import parse
from .runtime import (
    BUDGET,
    BUDGET_FACTOR,
    NO_ITEM,
    BudgetExceeded,
    start_budget,
    truthy,
)
from .scope import Scope
from .tree import (
    ArrayLiteral,
    Call,
    Literal,
    MethodCall,
    Name,
    Node,
    Root,
    ScopeField,
    Subject,
    walk,
)

# Python errors our helpers are written never to raise; if one slips through it still
# surfaces as an ExpressionError (never a raw Python error), and the fuzz tests look for it.
_PYTHON_ERRORS = (TypeError, ValueError, ArithmeticError, LookupError, RecursionError,
                  AttributeError)
INTERNAL = "internal error while evaluating"


def _internal(exc: BaseException) -> ExpressionError:
    return ExpressionError(f"{INTERNAL} ({type(exc).__name__})")


class Expression:
    """A compiled expression. Immutable and thread-safe: compile once, evaluate anywhere."""

    __slots__ = ("source", "node_refs", "nesting", "_evaluate", "_program", "_batch")

    def __init__(self, source: str, program: Program, node_refs: frozenset[str],
                 nesting: int | None = None) -> None:
        self.source = source
        #: ids of the nodes read with node.<id> (or node["id"]), for dependency checks
        self.node_refs = node_refs
        #: at most how many levels of nesting a value of this expression has beyond the
        #: deepest of `input`, `item`, `items` and `accumulator`, for an expression that
        #: places at most one of those (once) in its value; None when it may repeat a value
        #: (two references, a lambda of map/filter), reads `items`, or reads `variables`,
        #: `context` or `node` (values from elsewhere in the run)
        self.nesting = nesting
        self._program = program
        # Python code is built on first use: loading a workflow only parses and checks.
        self._evaluate: Any = None
        self._batch: dict[str, Any] | None = None

    def __repr__(self) -> str:
        return f"Expression({self.source!r})"

    def evaluate(self, scope: Scope, input: Any = None, item: Any = NO_ITEM,
                 index: Any = None, items: Any = None, accumulator: Any = None) -> Any:
        """The value of the expression. Without `item`, `item` means the input; with one,
        `input` means the item (Thaiyyal's per-item rule; the whole list is `items`)."""
        # The body of _run and start_budget, inlined: this is the per-call hot path.
        BUDGET.left = BUDGET_FACTOR * scope.max_string_length
        function = self._evaluate
        if function is None:
            function = self._evaluate = _build(build_evaluate, self._program)
        try:
            return function(scope, input, item, index, items, accumulator)
        except ThaiyyalError:
            raise
        except _PYTHON_ERRORS as exc:
            raise _internal(exc) from exc

    def filter(self, items: Sequence[Any], scope: Scope,
               input: Any = None) -> tuple[list[Any], int]:
        """(items for which the expression is truthy, number of items whose evaluation
        failed). A failing item is not kept."""
        return self._filter(items, scope, input)

    def _filter(self, items: Sequence[Any], scope: Scope,
                input: Any) -> tuple[list[Any], int]:
        scope.check_deadline()
        start_budget(scope)
        try:
            return self._batches()["filter"](scope, input, items), 0
        except (ExpressionError, BudgetExceeded, *_PYTHON_ERRORS):
            pass  # redo item by item: count the failures, and give each item its own budget
        kept, errors = [], 0
        for position, value in enumerate(items):
            if position & 1023 == 1023:
                scope.check_deadline()
            start_budget(scope)
            try:
                if truthy(self._run(scope, input, value, position, items, None)):
                    kept.append(value)
            except ExpressionError:
                errors += 1
        return kept, errors

    def map(self, items: Sequence[Any], scope: Scope,
            input: Any = None) -> tuple[list[Any], int]:
        """(the expression's value for each item, number of items that failed). Failed
        items are left out of the results."""
        return self._map(items, scope, input)

    def _map(self, items: Sequence[Any], scope: Scope, input: Any) -> tuple[list[Any], int]:
        scope.check_deadline()
        start_budget(scope)
        try:
            return self._batches()["map"](scope, input, items), 0
        except (ExpressionError, *_PYTHON_ERRORS):
            pass  # redo item by item to count the failures; all results share one budget
        start_budget(scope)
        results, failed = [], 0
        for position, value in enumerate(items):
            if position & 1023 == 1023:
                scope.check_deadline()
            try:
                results.append(self._run(scope, input, value, position, items, None))
            except ExpressionError:
                failed += 1
        return results, failed

    def reduce(self, items: Sequence[Any], initial: Any, scope: Scope,
               input: Any = None) -> Any:
        """Fold the items: `accumulator` starts as `initial` and becomes each result.
        A failure raises ExpressionError naming the index of the item."""
        return self._reduce(items, initial, scope, input)

    def _reduce(self, items: Sequence[Any], initial: Any, scope: Scope, input: Any) -> Any:
        scope.check_deadline()
        start_budget(scope)
        try:
            return self._batches()["reduce"](scope, input, items, initial)
        except (ExpressionError, BudgetExceeded, *_PYTHON_ERRORS):
            pass  # redo step by step: name the failing index, give each step its own budget
        accumulator = initial
        for position, value in enumerate(items):
            if position & 1023 == 1023:
                scope.check_deadline()
            start_budget(scope)
            try:
                accumulator = self._run(scope, input, value, position, items, accumulator)
            except ExpressionError as exc:
                raise ExpressionError(f"reduce failed at index {position}: {exc}") from exc
        return accumulator

    def _run(self, scope: Scope, input: Any, item: Any, index: Any, items: Any,
             accumulator: Any) -> Any:
        function = self._evaluate
        if function is None:
            function = self._evaluate = _build(build_evaluate, self._program)
        try:
            return function(scope, input, item, index, items, accumulator)
        except ThaiyyalError:
            raise
        except _PYTHON_ERRORS as exc:
            raise _internal(exc) from exc

    def _batches(self) -> dict[str, Any]:
        # Built on first use: most expressions are only ever evaluated one at a time.
        # Two threads may both build it; both results are equivalent.
        batch = self._batch
        if batch is None:
            batch = self._batch = _build(build_batch, self._program)
        return batch


def _build(builder: Any, program: Program) -> Any:
    try:
        return builder(program)
    except (SyntaxError, RecursionError, MemoryError) as exc:
        # The generator keeps nesting within Python's limits; this is a last resort.
        raise ExpressionError("expression is too complex to run") from exc


def compile_expression(text: str) -> Expression:
    """Compile `text` (cached by text). Raises ExpressionSyntaxError(reason, column)."""
    if not isinstance(text, str):
        raise ExpressionSyntaxError("an expression must be a string", 1)
    return _compile(text)


@functools.lru_cache(maxsize=1024)
def _compile(text: str) -> Expression:
    tree = parse(text)
    node_refs = frozenset(
        n.key.value for n in walk(tree)
        if isinstance(n, ScopeField) and n.scope == "node" and isinstance(n.key, Literal)
        and n.key.value.__class__ is str)
    return Expression(text, generate(tree), node_refs, _nesting(tree))


#: functions whose value can nest one level deeper than their arguments
_NESTING_FUNCTIONS = frozenset({"map", "zip", "split"})


def _nesting(tree: Node) -> int | None:
    """An upper bound of the levels an evaluation can add (see Expression.nesting): one per
    array literal and per call of a function that wraps its arguments' values."""
    levels = references = 0
    for node in walk(tree):
        if isinstance(node, ScopeField) or (isinstance(node, Root) and node.name == "items"):
            return None
        if isinstance(node, Root | Name | Subject):
            references += 1
        if isinstance(node, Call) and FUNCTIONS[node.name].lazy is not None:
            return None
        if isinstance(node, ArrayLiteral) or (
                isinstance(node, Call | MethodCall) and node.name in _NESTING_FUNCTIONS):
            levels += 1
    return levels if references <= 1 else None
