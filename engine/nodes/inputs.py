"""Input nodes (a constant from the node's data) and the display nodes that pass data on."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from engine.errors import NodeError
from engine.nodes.base import Field, Node, register

if TYPE_CHECKING:
    from engine.state import NodeContext


class _Constant(Node):
    """Returns the value of its one data field; ignores its inputs."""

    __slots__ = ("_value",)
    value_field: ClassVar[str]
    nesting = 0  # its own data

    def setup(self) -> None:
        self._value = self.config.get(self.value_field)

    def run(self, inputs: list[Any], ctx: NodeContext) -> Any:
        return self._value


@register
class NumberNode(_Constant):
    type_name = "number"
    value_field = "value"
    fields = (Field("value", "number", required=True),)


@register
class TextInputNode(_Constant):
    type_name = "text_input"
    value_field = "text"
    fields = (Field("text", "string", required=True),)


@register
class BooleanInputNode(_Constant):
    type_name = "boolean_input"
    value_field = "boolean_value"
    # Thaiyyal treats a missing value as false
    fields = (Field("boolean_value", "boolean", default=False),)

    def setup(self) -> None:
        self._value = bool(self.config.get("boolean_value", False))


@register
class DateInputNode(_Constant):
    """A date as the editor wrote it (YYYY-MM-DD); the string is passed on unchanged."""

    type_name = "date_input"
    value_field = "date_value"
    fields = (Field("date_value", "string", required=True),)


@register
class DateTimeInputNode(_Constant):
    """A date-time as the editor wrote it (ISO 8601); the string is passed on unchanged."""

    type_name = "datetime_input"
    value_field = "datetime_value"
    fields = (Field("datetime_value", "string", required=True),)


@register
class VisualizationNode(Node):
    """Passes its first input through; `mode` is only a hint for the editor."""

    type_name = "visualization"
    fields = (Field("mode", "string"),)
    nesting = 0  # its input, unchanged

    def run(self, inputs: list[Any], ctx: NodeContext) -> Any:
        if not inputs:
            raise NodeError("visualization needs at least 1 input")
        return inputs[0]


@register
class RendererNode(Node):
    """Passes its first input through, or null without one (the editor shows "No data")."""

    type_name = "renderer"
    fields = (Field("mode", "string"),)
    nesting = 0  # its input, unchanged

    def run(self, inputs: list[Any], ctx: NodeContext) -> Any:
        return inputs[0] if inputs else None
