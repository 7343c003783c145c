"""Context nodes: `context_variable` and `context_constant` define the `context.<name>`
values expressions read.

Their values are typed (`context_values: [{name, value, type}]`) and converted once, at
load, so a bad value is a payload problem with a path rather than a run failure. The
runner gathers every context node's `context_values()` before the run starts; callers may
override a context *variable* (never a constant) by name, converted by `coerce`.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from engine.bounds import NumberOutOfRange, js_number, number_from_digits
from engine.nodes.base import Field, Node, Report, register
from engine.nodes.values import is_number, json_type, text_of

if TYPE_CHECKING:
    from engine.state import NodeContext

CONTEXT_TYPES = ("string", "number", "boolean", "time_string", "epoch_second", "epoch_ms",
                 "null")

_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_INTEGER = re.compile(r"[+-]?\d+")
# RFC 3339, which Thaiyyal checks time strings against
_RFC3339 = re.compile(r"(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")
# Go's strconv.ParseBool
_BOOLEANS = {"1": True, "t": True, "T": True, "true": True, "TRUE": True, "True": True,
             "0": False, "f": False, "F": False, "false": False, "FALSE": False,
             "False": False}


def _shown(value: Any) -> str:
    return json.dumps(value) if isinstance(value, str) else json_type(value)


def _to_number(value: Any) -> int | float:
    if is_number(value):
        return value  # type: ignore[no-any-return]
    if isinstance(value, str):
        try:
            if _INTEGER.fullmatch(value):
                return number_from_digits(value, "number")
            if _NUMBER.fullmatch(value):
                return js_number(float(value), "number")
        except NumberOutOfRange as exc:
            raise ValueError(f"cannot convert {_shown(value)[:40]} to number: {exc}") from None
    raise ValueError(f"cannot convert {_shown(value)} to number")


def _to_boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value in _BOOLEANS:
        return _BOOLEANS[value]
    if is_number(value):
        return bool(value != 0)
    raise ValueError(f"cannot convert {_shown(value)} to boolean")


def _to_time_string(value: Any) -> str:
    text = text_of(value)
    match = _RFC3339.fullmatch(text)
    if match:
        date, time, _, offset = match.groups()
        try:
            dt.datetime.fromisoformat(f"{date}T{time}")
            if offset not in "Zz" and (int(offset[1:3]) > 23 or int(offset[4:]) > 59):
                raise ValueError(offset)
            return text
        except ValueError:
            pass
    raise ValueError(f"invalid time string {json.dumps(text)} (want RFC 3339, "
                     f"e.g. 2024-01-31T09:30:00Z)")


def _whole_number(value: Any, unit: str) -> int:
    if is_number(value) and math.isfinite(value):
        return int(value)
    if isinstance(value, str) and _INTEGER.fullmatch(value):
        return int(value)
    raise ValueError(f"cannot convert {_shown(value)} to epoch {unit}")


def _epoch_text(milliseconds: int) -> str:
    """UTC RFC 3339 text of an epoch instant; the fraction only when there is one."""
    seconds, millis = divmod(milliseconds, 1000)
    try:
        moment = dt.datetime(1970, 1, 1) + dt.timedelta(seconds=seconds)
    except OverflowError:
        raise ValueError("epoch value out of range") from None
    fraction = f".{millis:03d}".rstrip("0") if millis else ""
    return f"{moment.isoformat(timespec='seconds')}{fraction}Z"


def convert_typed_value(value: Any, value_type: str) -> Any:
    """`value` as `value_type` (one of CONTEXT_TYPES). Raises ValueError saying why not.

    Epoch types become RFC 3339 UTC text (`1700000000` -> `2023-11-14T22:13:20Z`), which
    the expression date functions read; `null` is always null."""
    if value_type == "string":
        return text_of(value)
    if value_type == "number":
        return _to_number(value)
    if value_type == "boolean":
        return _to_boolean(value)
    if value_type == "time_string":
        return _to_time_string(value)
    if value_type == "epoch_second":
        return _epoch_text(_whole_number(value, "seconds") * 1000)
    if value_type == "epoch_ms":
        return _epoch_text(_whole_number(value, "milliseconds"))
    if value_type == "null":
        return None
    raise ValueError(f"unsupported type {json.dumps(value_type)} "
                     f"(use one of {', '.join(CONTEXT_TYPES)})")


def _entry_problem(index: int, entry: Any) -> str | None:
    where = f"context_values[{index}]"
    if not isinstance(entry, Mapping):
        return f"{where} must be an object with name, value and type"
    name = entry.get("name")
    if not isinstance(name, str) or not name:
        return f"{where}.name must be a non-empty string"
    value_type = entry.get("type")
    if value_type is None:
        return None
    if value_type not in CONTEXT_TYPES:
        return f"{where}.type must be one of {', '.join(CONTEXT_TYPES)}; got {value_type!r}"
    try:
        convert_typed_value(entry.get("value"), value_type)
    except ValueError as exc:
        return f"{where}.value: {exc}"
    return None


class _ContextNode(Node):
    """Shared by both context node types; `kind` is the result's `type`, `values_key` the
    key its values go under."""

    kind: ClassVar[str]
    values_key: ClassVar[str]
    is_context = True
    fields = (
        Field("context_values", "array"),
        Field("context_name", "string"),
        Field("context_value", "any"),
    )

    __slots__ = ("_values", "_types", "_legacy")

    @classmethod
    def check(cls, config: Mapping[str, Any], report: Report) -> None:
        entries = config.get("context_values")
        if entries:
            for index, entry in enumerate(entries):
                problem = _entry_problem(index, entry)
                if problem:
                    report("context_values", problem)
        elif config.get("context_name") is None:
            report("context_values",
                   f"{cls.type_name} node missing context_name or context_values")
        elif config.get("context_value") is None:
            report("context_value", f"{cls.type_name} node missing context_value")

    def setup(self) -> None:
        #: name -> declared type (None: untyped, the value is used as given)
        self._types: dict[str, str | None] = {}
        self._values: dict[str, Any] = {}
        entries: list[Any] = self.config.get("context_values") or []
        self._legacy = not entries
        if self._legacy:
            name = self.config.get("context_name")
            if name is not None:
                self._types[name] = None
                self._values[name] = self.config.get("context_value")
            return
        for entry in entries:
            name, value_type = entry["name"], entry.get("type")
            value = entry.get("value")
            self._types[name] = value_type
            self._values[name] = value if value_type is None else \
                convert_typed_value(value, value_type)

    def context_values(self) -> dict[str, Any]:
        return dict(self._values)

    def value_types(self) -> dict[str, str | None]:
        """name -> declared type (None when the entry has none)."""
        return dict(self._types)

    def current_values(self, ctx: NodeContext) -> dict[str, Any]:
        return dict(self._values)

    def run(self, inputs: list[Any], ctx: NodeContext) -> Any:
        values = self.current_values(ctx)
        if self._legacy:
            name = self.config.get("context_name") or ""
            return {"type": self.kind, "name": name, "value": values.get(name)}
        return {"type": self.kind, self.values_key: values}


@register
class ContextVariableNode(_ContextNode):
    """`context.<name>` values a caller may override per run (by name, through `inputs`)."""

    type_name = "context_variable"
    kind = "variable"
    values_key = "variables"

    __slots__ = ()

    def coerce(self, name: str, value: Any) -> Any:
        """A caller's override of `name`, converted to its declared type. Raises ValueError
        with a message fit for the caller when `name` is not declared here or `value`
        cannot be converted. Untyped and `null`-typed names take the value as given."""
        if name not in self._types:
            known = ", ".join(sorted(self._types)) or "none"
            raise ValueError(f"context variable {name!r} is not defined by node {self.id!r} "
                             f"(defined: {known})")
        value_type = self._types[name]
        if value_type is None or value_type == "null":
            return value
        try:
            return convert_typed_value(value, value_type)
        except ValueError as exc:
            raise ValueError(f"context variable {name!r} is a {value_type}: {exc}") from None

    def current_values(self, ctx: NodeContext) -> dict[str, Any]:
        # the run's context holds the caller's overrides
        context = ctx.run.context
        return {name: context.get(name, value) for name, value in self._values.items()}


@register
class ContextConstantNode(_ContextNode):
    """`context.<name>` values fixed by the workflow."""

    type_name = "context_constant"
    kind = "const"
    values_key = "constants"

    __slots__ = ()
