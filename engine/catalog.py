"""The node types as data: what the editor needs to build forms, and the edit-time checks.

`describe_node_types()` publishes every registered node type's declared fields (name,
kind, required, default, choices, aliases), its output handles and its palette group
(grouped as in Thaiyyal's editor), straight from the `Field` declarations the loader uses:
the editor's forms cannot drift from what the engine accepts.

`choice_problems(doc)` refuses, at save and validate time, the values of fields whose
choices the loader leaves to run time (`Field.choices_at_run`, Thaiyyal's behaviour).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine import nodes as _catalog  # noqa: F401 - registers every node type
from engine.canonical import canonical_definition, written_keys
from engine.errors import Problem
from engine.node_names import EDITOR_TYPES, infer_type
from engine.nodes.base import NODE_TYPES, Field, Node

#: palette groups in Thaiyyal's order (its editor's categories), then ours for the rest
PALETTE: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Input/Output", ("number", "text_input", "boolean_input", "date_input", "datetime_input",
                      "http", "paginator", "visualization", "renderer")),
    ("Operations", ("operation", "text_operation", "expression", "transform", "parse",
                    "format", "extract", "schema_validator")),
    ("Control Flow", ("condition", "filter", "for_each", "while_loop", "switch")),
    ("Parallel & Join", ("parallel", "join", "split")),
    ("State & Memory", ("variable", "accumulator", "counter", "cache", "context_variable",
                        "context_constant")),
    ("Error Handling", ("retry", "try_catch", "timeout")),
    ("Utilities", ("delay", "rate_limiter", "throttle")),
    ("Array Operations", ("map", "reduce", "slice", "sort", "find", "flat_map", "group_by",
                          "unique", "chunk", "reverse", "partition", "zip", "sample", "range",
                          "transpose", "compact")),
)

#: Thaiyyal's palette labels where they differ from the type name written as words
LABELS = {"operation": "Math Op", "text_operation": "Text Op", "boolean_input": "Boolean",
          "date_input": "Date", "datetime_input": "DateTime", "http": "HTTP",
          "flat_map": "FlatMap", "try_catch": "Try-Catch"}

#: output handles (an edge's `sourceHandle`) beyond the plain output. `from_data` names
#: the data whose entries add more: switch cases' `output_path`, split's path names.
HANDLES: dict[str, dict[str, Any]] = {
    "condition": {"fixed": ["true", "false"]},
    "switch": {"fixed": ["default"], "from_data": "cases[].output_path"},
    "split": {"fixed": [], "from_data": "paths[]"},
    "try_catch": {"fixed": ["success", "error"], "from_data": "error_output_path"},
}


def palette_group(type_name: str) -> str:
    for group, members in PALETTE:
        if type_name in members:
            return group
    return "Other"


def _json_safe(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_json_safe(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    return value


def describe_field(f: Field) -> dict[str, Any]:
    return {"name": f.name, "kind": f.kind, "required": f.required,
            "default": _json_safe(f.default), "choices": _json_safe(f.choices),
            "aliases": list(f.aliases)}


def _summary(cls: type[Node]) -> str:
    doc = (cls.__doc__ or "").strip()
    return " ".join(doc.split("\n\n", 1)[0].split())


def describe_node_type(cls: type[Node]) -> dict[str, Any]:
    name = cls.type_name
    handles = HANDLES.get(name, {"fixed": []})
    return {"type": name, "label": LABELS.get(name, name.replace("_", " ").capitalize()),
            "group": palette_group(name), "description": _summary(cls),
            "fields": [describe_field(f) for f in cls.fields],
            "handles": {"fixed": list(handles["fixed"]),
                        "from_data": handles.get("from_data")},
            "editor_names": sorted(k for k, v in EDITOR_TYPES.items() if v == name),
            "catches_errors": cls.catches_errors}


def describe_node_types() -> dict[str, Any]:
    """Every node type, in palette order, and the palette groups."""
    order = [t for _, members in PALETTE for t in members if t in NODE_TYPES]
    order += sorted(set(NODE_TYPES) - set(order))
    return {"groups": [g for g, members in PALETTE if any(t in NODE_TYPES for t in members)]
            + (["Other"] if any(palette_group(t) == "Other" for t in NODE_TYPES) else []),
            "node_types": [describe_node_type(NODE_TYPES[t]) for t in order]}


def choice_problems(doc: Any, prefix: str = "$") -> list[Problem]:
    """Values outside a field's choices where the loader lets them through, with their path
    and the allowed values (loop bodies included), read as the loader reads them (the
    editor's type names and camelCase keys, types inferred from data). Malformed documents
    yield nothing: the loader reports those."""
    given = doc
    doc = canonical_definition(doc)
    if not isinstance(doc, Mapping) or not isinstance(doc.get("nodes"), list):
        return []
    problems: list[Problem] = []
    for i, raw in enumerate(doc["nodes"]):
        if not isinstance(raw, Mapping) or not isinstance(raw.get("data"), Mapping):
            continue
        type_name = raw.get("type") or infer_type(raw["data"])
        cls = NODE_TYPES.get(type_name) if isinstance(type_name, str) else None
        if cls is None:
            continue
        data = raw["data"]
        given_data = given["nodes"][i]["data"]
        written = written_keys(given_data)  # paths name keys as the user wrote them
        for f in cls.fields:
            path = f"{prefix}.nodes[{i}].data"
            if f.kind == "workflow" and isinstance(data.get(f.name), Mapping):
                name = written.get(f.name, f.name)
                problems += choice_problems(given_data[name], f"{path}.{name}")
            if not (f.choices and f.choices_at_run):
                continue
            key = next((k for k in (f.name, *f.aliases) if data.get(k) is not None), None)
            if key is None:
                continue
            value = data[key]
            probe = value.lower() if f.fold_case and isinstance(value, str) else value
            if probe not in f.choices:
                problems.append(Problem(f"{path}.{written.get(key, key)}", f"must be one of "
                                        f"{', '.join(map(str, f.choices))}; got {value!r}"))
    return problems
