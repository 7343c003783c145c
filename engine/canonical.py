"""A workflow definition in its canonical form: the editor's type names (`rangeNode`) and
camelCase data keys (`varName`) rewritten to ours (`range`, `var_name`). The loader reads
definitions through it, and the platform stores what it returns, so a saved workflow
always reads back canonical whatever spelling it was written in."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from engine.node_names import EDITOR_TYPES, INFERENCE_KEYS
from engine.nodes.base import NODE_TYPES

_UPPER = re.compile(r"(?<=[a-z0-9])([A-Z])")


def snake_case(key: str) -> str:
    """`varName` -> `var_name`; keys without capitals are returned unchanged."""
    return _UPPER.sub(r"_\1", key).lower() if key[:1].islower() else key


def canonical_node(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A node with its type and data keys in our spelling (a new dict; `raw` is untouched).
    A camelCase data key is renamed only when its snake_case form is a field of the node's
    type (or, for an untyped node, a key type inference looks at) and is not also given."""
    node = dict(raw)
    node_type = node.get("type")
    if isinstance(node_type, str) and node_type in EDITOR_TYPES:
        node["type"] = node_type = EDITOR_TYPES[node_type]
    data = node.get("data")
    if not isinstance(data, Mapping):
        return node
    cls = NODE_TYPES.get(node_type) if isinstance(node_type, str) else None
    known = ({f.name for f in cls.fields} | {a for f in cls.fields for a in f.aliases}
             if cls is not None else set(INFERENCE_KEYS)) | {"retry", "timeout"}
    renamed: dict[str, Any] = {}
    for key, value in data.items():
        snake = snake_case(key) if isinstance(key, str) else key
        if snake != key and snake in known and snake not in data:
            key = snake
        if cls is not None and isinstance(value, Mapping) and _is_workflow_field(cls, key):
            value = canonical_definition(value)
        renamed[key] = value
    node["data"] = renamed
    return node


def written_keys(given: Any) -> dict[str, str]:
    """For a node's `data` as given: each key `canonical_node` renames, by its new name ->
    as written (`text_op` -> `textOp`), so that a problem's path names the key the user
    wrote. Keys kept as written are not listed."""
    if not isinstance(given, Mapping):
        return {}
    return {snake: key for key in given if isinstance(key, str)
            and (snake := snake_case(key)) != key and snake not in given}


def canonical_definition(doc: Any) -> Any:
    """`doc` with every node (loop bodies included) in canonical form; anything that is not
    a workflow object is returned as it is, for the loader to report."""
    if not isinstance(doc, Mapping):
        return doc
    nodes = doc.get("nodes")
    if not isinstance(nodes, list):
        return doc
    out = dict(doc)
    out["nodes"] = [canonical_node(n) if isinstance(n, Mapping) else n for n in nodes]
    return out


def _is_workflow_field(cls: Any, key: str) -> bool:
    return any(f.name == key and f.kind == "workflow" for f in cls.fields)
