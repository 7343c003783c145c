"""`schema_validator`: checks its input against a JSON Schema (the `jsonschema` library).

Its patterns run on RE2 and its work is bounded by the run's deadline (schema_bounds.py):
a pattern RE2 cannot run (backreferences, lookaround) is refused at load with its path.

The schema is checked once, at load, against its own metaschema (Draft 2020-12 unless
`$schema` names another), and a bad schema is reported with the path of the bad part.
References resolve only inside the schema: remote `$ref`s are never fetched, because only
`engine/egress/` may talk to the network.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import referencing
import referencing.exceptions
from jsonschema import Draft202012Validator
from jsonschema.validators import validator_for

from engine.errors import NodeError
from engine.nodes.base import Field, Node, Report, register
from engine.nodes.schema_bounds import bounded, deadline_checks, format_checker, unsupported_pattern

if TYPE_CHECKING:
    from jsonschema import ValidationError
    from jsonschema.protocols import Validator

    from engine.state import NodeContext

#: errors listed in a result at most; a count says how many there were
MAX_REPORTED_ERRORS = 100
#: JSON objects a schema may hold. Checking a schema against the Draft 2020-12 metaschema
#: costs about 0.5-1 ms per subschema (jsonschema resolves the metaschema's $dynamicRef for
#: each) with no deadline at load: 20,000 properties held a worker for 8 s.
MAX_SCHEMA_OBJECTS = 1000


def _objects(value: Any) -> int:
    """JSON objects in `value` (the schema and every subschema, at any depth)."""
    count, stack = 0, [value]
    while stack:
        item = stack.pop()
        if isinstance(item, Mapping):
            count += 1
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return count


def _path_text(parts: Any) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts)


def _validator_class(schema: Mapping[str, Any] | bool) -> type[Validator] | None:
    """The validator for the schema's `$schema` (Draft 2020-12 without one); None when
    `$schema` names a draft the library does not know."""
    if isinstance(schema, Mapping) and "$schema" in schema:
        if not isinstance(schema["$schema"], str):
            return None
        return validator_for(schema, default=None)
    return Draft202012Validator


@register
class SchemaValidatorNode(Node):
    """`{valid: true, data}` when the first input matches `schema`; otherwise `{valid:
    false, data, errors: [{field, type, description, value}]}`, or, with `strict`, a node
    error naming the first problem."""

    type_name = "schema_validator"
    fields = (
        Field("schema", "any", required=True),
        Field("strict", "boolean", default=False),
    )

    __slots__ = ("_validator",)

    @classmethod
    def check(cls, config: Mapping[str, Any], report: Report) -> None:
        schema = config["schema"]
        if not isinstance(schema, Mapping | bool):
            report("schema", "must be a JSON Schema object (or true/false)")
            return
        size = _objects(schema)
        if size > MAX_SCHEMA_OBJECTS:
            report("schema", f"too large: {size} JSON objects, at most {MAX_SCHEMA_OBJECTS} "
                             "(each subschema costs a check when the workflow is loaded)")
            return
        validator_cls = _validator_class(schema)
        if validator_cls is None:
            draft = schema["$schema"] if isinstance(schema, Mapping) else None
            report("schema.$schema", f"unknown JSON Schema draft {draft!r}")
            return
        # Every problem, not only the first (what `check_schema` would raise).
        meta = bounded(validator_cls)(validator_cls.META_SCHEMA,
                                      format_checker=format_checker(validator_cls))
        found = {("schema" + _path_text(e.absolute_path),
                  f"invalid schema: {unsupported_pattern(e) or e.message}"): None
                 for e in meta.iter_errors(schema)}  # a dict: the metaschema repeats itself
        for where, message in sorted(found)[:MAX_REPORTED_ERRORS]:
            report(where, message)

    def setup(self) -> None:
        schema = self.config["schema"]
        validator_cls = _validator_class(schema)
        assert validator_cls is not None  # check() refused unknown drafts
        # An empty registry: `$ref` resolves within this schema only, never over the network.
        self._validator: Validator = bounded(validator_cls)(
            schema, registry=referencing.Registry(), format_checker=format_checker(validator_cls))

    def run(self, inputs: list[Any], ctx: NodeContext) -> Any:
        data = inputs[0] if inputs else None
        if data is None:
            raise NodeError("schema_validator needs an input to validate")
        try:
            with deadline_checks(ctx.check_deadline):
                found = sorted(self._validator.iter_errors(data), key=lambda e: list(
                    map(str, e.absolute_path)))
        except referencing.exceptions.Unresolvable as exc:
            raise NodeError(f"schema reference cannot be resolved: {exc.ref} "
                            "(remote references are not fetched)") from None
        if not found:
            return {"valid": True, "data": data}
        errors = [_describe(e) for e in found[:MAX_REPORTED_ERRORS]]
        if self.config["strict"]:
            first = errors[0]
            raise NodeError(f"validation failed: {len(found)} error(s); "
                            f"{first['field']}: {first['description']}")
        return {"valid": False, "data": data, "errors": errors, "error_count": len(found)}


def _describe(error: ValidationError) -> dict[str, Any]:
    return {
        "field": "$" + _path_text(error.absolute_path),
        "type": error.validator,
        "description": error.message,
        "value": error.instance,
    }
