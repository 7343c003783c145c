"""Nodes that evaluate an expression on their input: `expression`, and the branching nodes
`condition` and `switch`, whose results select the outgoing edges that fire."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.errors import ExpressionError, ExpressionSyntaxError, NodeError
from engine.nodes.base import Field, Node, Report, register
from engine.nodes.values import json_equal, truthy

if TYPE_CHECKING:
    from engine.expressions import Expression
    from engine.expressions.scope import Scope
    from engine.state import NodeContext


@register
class ExpressionNode(Node):
    """The value of `expression` evaluated on the first input (`input`; null without one)."""

    type_name = "expression"
    fields = (Field("expression", "expression", required=True),)

    __slots__ = ("_expr",)

    def setup(self) -> None:
        self._expr = self.config["expression"]

    def result_nesting(self) -> int | None:
        return self._expr.nesting  # type: ignore[no-any-return]

    def run(self, inputs: list[Any], ctx: NodeContext) -> Any:
        return self._expr.evaluate(ctx.scope, input=inputs[0] if inputs else None)


@register
class ConditionNode(Node):
    """Evaluates `condition` on the first input and passes the input on, saying which path
    (`true`/`false`) fires. As in Thaiyyal, an expression that fails to evaluate (a missing
    field, a type mismatch) counts as false rather than failing the run."""

    type_name = "condition"
    fields = (Field("condition", "expression", required=True),)
    nesting = 1  # the input, in an envelope

    __slots__ = ("_condition",)

    def setup(self) -> None:
        self._condition = self.config["condition"]

    def run(self, inputs: list[Any], ctx: NodeContext) -> Any:
        if not inputs:
            raise NodeError("condition node needs at least 1 input")
        value = inputs[0]
        try:
            met = truthy(self._condition.evaluate(ctx.scope, input=value))
        except ExpressionError:
            met = False
        return {
            "value": value,
            "condition_met": met,
            "condition": self._condition.source,
            "path": "true" if met else "false",
            "true_path": met,
            "false_path": not met,
        }


@dataclass(frozen=True, slots=True)
class _Case:
    """One switch case: a default, an expression, or a literal value to compare with."""

    label: Any
    output_path: str | None
    is_default: bool = False
    expression: Expression | None = None
    literal: Any = None

    def matches(self, value: Any, scope: Scope) -> bool:
        """A boolean `when` decides; any other `when` (a literal, or an expression such as
        `'gold'` that gives no boolean) is a value matched by `==`'s rule, json_equal."""
        try:
            if self.expression is None:
                return json_equal(self.literal, value)
            result = self.expression.evaluate(scope, input=value)
            return result if isinstance(result, bool) else json_equal(result, value)
        except ExpressionError:
            return False  # Thaiyyal skips a case whose expression fails


def _case_problems(index: int, case: Any) -> list[str]:
    """What is wrong with one entry of `cases` (empty when nothing)."""
    where = f"cases[{index}]"
    if not isinstance(case, Mapping):
        return [f"{where} must be an object with `when` and `output_path`"]
    problems = []
    if not isinstance(case.get("is_default", False), bool):
        problems.append(f"{where}.is_default must be true or false")
    path = case.get("output_path")
    if path is not None and not isinstance(path, str):
        problems.append(f"{where}.output_path must be a string")
    if case.get("is_default") is True:
        return problems
    when = case.get("when")
    if when is None and "value" not in case:
        problems.append(f"{where} needs `when` (an expression or a value to match)")
    elif isinstance(when, str) and "value" not in case:
        from engine.expressions import compile_expression  # loads on first use, as payload does

        try:
            compile_expression(when)
        except ExpressionSyntaxError as exc:
            problems.append(f"{where}.when: {exc.reason} at column {exc.column}")
    return problems


def _build_case(case: Mapping[str, Any]) -> _Case:
    path = case.get("output_path") or None
    if case.get("is_default") is True:
        return _Case("default", path, is_default=True)
    if "value" in case:  # Thaiyyal's older form: {when, value} matches `value` literally
        return _Case(case.get("when", case["value"]), path, literal=case["value"])
    when = case["when"]
    if isinstance(when, str):
        from engine.expressions import compile_expression

        return _Case(when, path, expression=compile_expression(when))
    return _Case(when, path, literal=when)


@register
class SwitchNode(Node):
    """Picks the first case whose `when` matches the first input; its `output_path` names the
    edges (`sourceHandle`) that fire. `when` is an expression (true/false, or a value compared
    with the input) or a literal value. The default case (`is_default`, last) always matches;
    without one, nothing matched selects `default_path` ("default")."""

    type_name = "switch"
    fields = (
        Field("cases", "array", required=True),
        Field("default_path", "string", default="default"),
    )

    __slots__ = ("_cases",)

    @classmethod
    def check(cls, config: Mapping[str, Any], report: Report) -> None:
        cases = config.get("cases") or []
        if not cases:
            report("cases", "switch node requires at least one case")
            return
        for index, case in enumerate(cases):
            for problem in _case_problems(index, case):
                report("cases", problem)
        defaults = [i for i, c in enumerate(cases)
                    if isinstance(c, Mapping) and c.get("is_default") is True]
        # Thaiyyal's words; unlike Thaiyyal, a switch without a default case is accepted
        # (nothing matched selects `default_path`): see docs/compatibility.md
        if len(defaults) > 1:
            report("cases", f"switch node must have exactly one default case "
                            f"(found {len(defaults)})")
        elif defaults and defaults[0] != len(cases) - 1:
            report("cases", f"default case must be the last case in the array (found at "
                            f"index {defaults[0]}, but last index is {len(cases) - 1})")

    def setup(self) -> None:
        self._cases = tuple(_build_case(case) for case in self.config.get("cases") or ())

    def run(self, inputs: list[Any], ctx: NodeContext) -> Any:
        if not inputs:
            raise NodeError("switch node requires at least one input")
        value = inputs[0]
        scope = ctx.scope
        for index, case in enumerate(self._cases):
            if case.is_default:
                return _switch_result(value, False, "default", case.output_path or "default",
                                      index)
            if case.matches(value, scope):
                return _switch_result(value, True, case.label, case.output_path or "matched",
                                      index)
        return _switch_result(value, False, "default",
                              self.config.get("default_path") or "default", None)


def _switch_result(value: Any, matched: bool, case: Any, output_path: str,
                   case_index: int | None) -> dict[str, Any]:
    return {"value": value, "matched": matched, "case": case, "output_path": output_path,
            "case_index": case_index}
