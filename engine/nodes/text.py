"""`text_operation`: case changes, concatenation of all inputs, repetition."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from engine.errors import LimitExceeded, NodeError
from engine.nodes.base import Field, Node, register

if TYPE_CHECKING:
    from engine.state import NodeContext


def _is_word_separator(char: str) -> bool:
    # Thaiyyal's titlecase (Go's strings.Title): letters, digits and "_" continue a word;
    # spaces and other ASCII characters start a new one
    if char.isascii():
        return not (char.isalnum() or char == "_")
    return char.isspace()


def title_case(text: str) -> str:
    """'hello wORLD-wide' -> 'Hello World-Wide'."""
    chars = []
    after_separator = True
    for char in text.lower():
        chars.append(char.upper() if after_separator else char)
        after_separator = _is_word_separator(char)
    return "".join(chars)


def camel_case(text: str) -> str:
    """'hello big WORLD' -> 'helloBigWorld' (words are separated by whitespace)."""
    words = text.split()
    if not words:
        return text
    return words[0].lower() + "".join(w[:1].upper() + w[1:].lower() for w in words[1:])


def inverse_case(text: str) -> str:
    """'Hello' -> 'hELLO'."""
    return "".join(
        c.lower() if c.isupper() else c.upper() if c.islower() else c for c in text)


#: operations on the first input, which must be a string
CASE_OPERATIONS: dict[str, Callable[[str], str]] = {
    "uppercase": str.upper,
    "lowercase": str.lower,
    "titlecase": title_case,
    "camelcase": camel_case,
    "inversecase": inverse_case,
}
TEXT_OPERATIONS = (*CASE_OPERATIONS, "concat", "repeat")


@register
class TextOperationNode(Node):
    """`text_op` on string inputs. `concat` joins every input with `separator`; `repeat`
    repeats the first input `repeat_n` times; the others change the case of the first input.
    An unknown `text_op` fails when the node runs, as in Thaiyyal (saving and validating refuse
    it first)."""

    type_name = "text_operation"
    fields = (
        Field("text_op", "string", required=True, choices=TEXT_OPERATIONS, fold_case=True,
              choices_at_run=True),
        Field("separator", "string", default=""),
        Field("repeat_n", "integer"),
    )

    __slots__ = ("_op",)

    def setup(self) -> None:
        self._op = str(self.config.get("text_op", "")).lower()

    def run(self, inputs: list[Any], ctx: NodeContext) -> Any:
        if self._op not in TEXT_OPERATIONS:
            raise NodeError(f"unknown text operation: {self.config.get('text_op')} "
                            f"(expected one of {', '.join(TEXT_OPERATIONS)})")
        if not inputs:
            raise NodeError("text operation needs at least 1 input")
        if self._op == "concat":
            return self._concat(inputs, ctx)
        if self._op == "repeat":
            return self._repeat(inputs[0], ctx)
        text = inputs[0]
        if not isinstance(text, str):
            raise NodeError("text operation input must be text/string")
        return CASE_OPERATIONS[self._op](text)

    def _concat(self, inputs: list[Any], ctx: NodeContext) -> str:
        for index, value in enumerate(inputs):
            if not isinstance(value, str):
                raise NodeError(f"concat operation input {index} must be text/string")
        separator = self.config.get("separator") or ""
        size = sum(map(len, inputs)) + len(separator) * (len(inputs) - 1)
        _check_size(size, ctx)
        return separator.join(inputs)

    def _repeat(self, text: Any, ctx: NodeContext) -> str:
        if not isinstance(text, str):
            raise NodeError("repeat operation input must be text/string")
        count = self.config.get("repeat_n")
        if count is None:
            raise NodeError("repeat operation requires repeat_n field")
        if count < 0:
            raise NodeError(f"repeat_n must be non-negative, got {count}")
        # checked before building the string: "x" * 10**12 must not allocate first
        _check_size(len(text) * count, ctx)
        return text * count


def _check_size(size: int, ctx: NodeContext) -> None:
    limit = ctx.limits.max_string_length
    if size > limit:
        raise LimitExceeded("max_string_length", limit, ctx.node_id,
                            f"text_operation result would be {size} characters")
