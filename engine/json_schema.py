"""JSON Schema of a workflow payload, built from the node types' own field declarations
(the same `Field`s the loader checks), so the published contract cannot drift from what
the engine accepts.

The schema describes what the loader takes in its canonical spelling: documented field
names and kinds, required fields, choices. The loader is more lenient than the schema
in places (the editor's camelCase names and aliases, choices in any case, numeric
strings for numbers): a payload the schema accepts is a payload the loader understands,
not the other way round. Whether expressions compile, edges name nodes and the graph has
no cycle is beyond JSON Schema: the loader answers those with their paths.
"""

from __future__ import annotations

from typing import Any

from engine import nodes as _catalog  # noqa: F401 - registers every node type
from engine.limits import Limits
from engine.nodes.base import NODE_TYPES, Field, Node

_NUMERIC_TEXT = {"type": "string", "pattern": r"^\s*-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?\s*$"}
_DURATION_TEXT = {"type": "string", "pattern": r"^\s*[0-9]+(\.[0-9]+)?\s*(ms|s|m|h)?\s*$"}

#: the example every payload operation shows: 2 + 3
EXAMPLE = {
    "nodes": [
        {"id": "a", "type": "number", "data": {"value": 2}},
        {"id": "b", "type": "number", "data": {"value": 3}},
        {"id": "sum", "type": "operation", "data": {"op": "add"}},
    ],
    "edges": [{"source": "a", "target": "sum"}, {"source": "b", "target": "sum"}],
}


#: a value of each field kind for the node examples (required fields only)
_SAMPLES: dict[str, Any] = {
    "string": "text", "expression": "1", "number": 1, "integer": 1, "boolean": True,
    "duration": "1s", "array": [], "object": {},
    "workflow": {"nodes": [{"id": "item", "type": "number", "data": {"value": 1}}],
                 "edges": []},
}
#: node types whose example needs more than a sample of each required field
_EXAMPLE_DATA: dict[str, dict[str, Any]] = {
    "context_constant": {"context_name": "rate", "context_value": 0.2},
    "context_variable": {"context_name": "name", "context_value": "world"},
    "extract": {"field": "user.name"},
    "map": {"expression": "item * 2"},
    "schema_validator": {"schema": {"type": "object", "required": ["id"]}},
    "switch": {"cases": [{"when": "input >= 90", "output_path": "A"},
                         {"when": "default", "output_path": "F", "is_default": True}]},
    "transform": {"transform_type": "keys"},
    # a path on a stored credential's base URL (and nothing a test run could reach)
    "http": {"url": "/users", "method": "get", "credential": "billing-api"},
    "paginator": {"url": "/items", "credential": "billing-api", "mode": "page",
                  "page_param": "page", "items_path": "items", "max_pages": 3},
}


def node_example(cls: type[Node]) -> dict[str, Any]:
    """A node of this type that the engine loads: its required fields, or a hand-written
    `data` where those alone are not enough (tests check that each one loads)."""
    data = _EXAMPLE_DATA.get(cls.type_name)
    if data is None:
        data = {f.name: f.choices[0] if f.choices else _SAMPLES.get(f.kind, "text")
                for f in cls.fields if f.required}
    return {"id": cls.type_name, "type": cls.type_name, "data": data}


def field_schema(field: Field) -> dict[str, Any]:
    """The JSON Schema of one declared field."""
    kind = field.kind
    schema: dict[str, Any]
    if field.choices:
        schema = {"type": "string", "enum": list(field.choices)}
    elif kind == "string":
        schema = {"type": "string"}
    elif kind == "expression":
        schema = {"type": "string", "minLength": 1,
                  "description": "an expression (compiled at load; a syntax error is a 400)"}
    elif kind == "number":
        schema = {"anyOf": [{"type": "number"}, _NUMERIC_TEXT]}
    elif kind == "integer":
        schema = {"anyOf": [{"type": "integer"}, {"type": "string", "pattern": r"^-?[0-9]+$"}]}
    elif kind == "boolean":
        schema = {"anyOf": [{"type": "boolean"}, {"type": "string", "enum": ["true", "false"]}]}
    elif kind == "duration":
        schema = {"anyOf": [{"type": "number", "minimum": 0}, _DURATION_TEXT],
                  "description": "seconds, or a duration such as 500ms, 30s, 10m"}
    elif kind == "array":
        schema = {"type": "array"}
    elif kind in ("object", "workflow"):
        schema = {"type": "object"}
        if kind == "workflow":
            schema["description"] = "a sub-workflow payload: {nodes, edges}"
    else:
        schema = {}
    if field.default is not None and not isinstance(field.default, dict | list):
        schema["default"] = field.default
    return schema


def node_schema(cls: type[Node]) -> dict[str, Any]:
    """The schema of one node type: {id, type: <its name>, data: {its fields}}."""
    data: dict[str, Any] = {
        "type": "object",
        "properties": {f.name: field_schema(f) for f in cls.fields},
        # retry / timeout policies, the editor's own keys (label, position...) and aliases
        "additionalProperties": True,
    }
    required = [f.name for f in cls.fields if f.required]
    if required:
        data["required"] = required
    doc = (cls.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {
            "id": {"type": "string", "minLength": 1, "maxLength": 200},
            "type": {"type": "string", "enum": [cls.type_name]},
            "data": data,
        },
        "required": ["id", "type"] + (["data"] if required else []),
        "example": node_example(cls),
    }
    if doc:
        schema["description"] = doc
    return schema


def component_name(type_name: str) -> str:
    return "Node" + "".join(part.capitalize() for part in type_name.split("_"))


def payload_components(ref_prefix: str = "#/components/schemas/") -> dict[str, Any]:
    """Named schemas: WorkflowPayload, WorkflowEdge, WorkflowNode (one of the node types)
    and one per node type, referring to each other under `ref_prefix`."""
    limits = Limits()
    components: dict[str, Any] = {}
    mapping = {}
    for type_name in sorted(NODE_TYPES):
        name = component_name(type_name)
        components[name] = node_schema(NODE_TYPES[type_name])
        mapping[type_name] = ref_prefix + name
    components["WorkflowNode"] = {
        "oneOf": [{"$ref": ref} for ref in mapping.values()],
        "discriminator": {"propertyName": "type", "mapping": mapping},
    }
    components["WorkflowEdge"] = {
        "type": "object",
        "properties": {
            "source": {"type": "string", "minLength": 1, "description": "a node id"},
            "target": {"type": "string", "minLength": 1, "description": "a node id"},
            "sourceHandle": {"type": "string",
                             "description": "the branch it leaves by (true/false, a case)"},
        },
        "required": ["source", "target"],
    }
    components["WorkflowPayload"] = {
        "type": "object",
        "description": "A workflow: nodes (each typed, with its data) and the edges between "
                       "them. Checked by the engine at load: every problem is a 400 with "
                       "its JSON path.",
        "properties": {
            "nodes": {"type": "array", "maxItems": limits.max_nodes,
                      "items": {"$ref": ref_prefix + "WorkflowNode"}},
            "edges": {"type": "array", "maxItems": limits.max_edges,
                      "items": {"$ref": ref_prefix + "WorkflowEdge"}},
        },
        "required": ["nodes"],
        "example": EXAMPLE,
    }
    return components
