"""Checking a workflow payload: every problem reported with its JSON path, nothing built.

`PayloadChecker.check` walks a decoded payload and either collects problems (each a
`Problem(path, message)`, all of them, not only the first) or returns a `CheckedPayload`:
node types resolved, fields converted and defaulted, expressions compiled, edges and the
acyclic graph verified. `engine.payload` builds the runnable `Workflow` from that; building
never reports problems.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine import bounds
from engine import nodes as _catalog  # noqa: F401 - registers every node type
from engine.bounds import SAFE_INTEGER
from engine.canonical import canonical_node, written_keys
from engine.errors import ExpressionSyntaxError, Problem
from engine.graph import Edge, find_cycle
from engine.limits import Limits, parse_duration
from engine.node_names import infer_type
from engine.nodes.base import NODE_TYPES, Field, Node
from engine.policy import NO_POLICY, NodePolicy, parse_retry, parse_timeout

_MISSING = object()
#: field kinds holding JSON values from the payload: checked against engine/bounds.py
_JSON_KINDS = frozenset({"any", "array", "object", "number", "integer"})


@dataclass(frozen=True, slots=True)
class NodeSpec:
    """One checked node: its id, type, converted `config` and position in `nodes`.
    Loop bodies in `config` are `CheckedPayload`s, built along with their node."""

    node_id: str
    cls: type[Node]
    config: dict[str, Any]
    index: int


@dataclass(frozen=True, slots=True)
class CheckedPayload:
    """A payload with no problems: ready to be built into a Workflow."""

    workflow_id: str | None
    specs: tuple[NodeSpec, ...]
    edges: tuple[Edge, ...]
    node_ids: tuple[str, ...]


def _type_name(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean",
            type(None): "null"}.get(type(value), "number" if isinstance(value, int | float)
                                    else type(value).__name__)


class PayloadChecker:
    """Checks a decoded payload, collecting every problem with its JSON path; what passes
    becomes a `CheckedPayload` (fields converted, expressions compiled) for the builder."""

    def __init__(self, limits: Limits, prefix: str, depth: int) -> None:
        self.limits = limits
        self.prefix = prefix
        self.depth = depth
        self.problems: list[Problem] = []

    def problem(self, path: str, message: str) -> None:
        self.problems.append(Problem(self.prefix + path, message))

    def check(self, doc: Any) -> CheckedPayload | None:
        if not isinstance(doc, Mapping):
            self.problem("", f"workflow must be a JSON object, got {_type_name(doc)}")
            return None
        raw_nodes = doc.get("nodes")
        raw_edges = doc.get("edges", [])
        workflow_id = doc.get("workflow_id")
        if workflow_id is not None and not isinstance(workflow_id, str):
            self.problem(".workflow_id", "must be a string")
            workflow_id = None
        if not isinstance(raw_nodes, list):
            self.problem(".nodes", "required: a list of nodes" if raw_nodes is None
                         else f"must be a list, got {_type_name(raw_nodes)}")
            raw_nodes = []
        if raw_edges is None:
            raw_edges = []
        if not isinstance(raw_edges, list):
            self.problem(".edges", f"must be a list, got {_type_name(raw_edges)}")
            raw_edges = []
        if len(raw_nodes) > self.limits.max_nodes:
            self.problem(".nodes", f"{len(raw_nodes)} nodes exceed limit "
                         f"max_nodes={self.limits.max_nodes}")
            return None
        if len(raw_edges) > self.limits.max_edges:
            self.problem(".edges", f"{len(raw_edges)} edges exceed limit "
                         f"max_edges={self.limits.max_edges}")
            return None
        specs = [self.node(i, raw) for i, raw in enumerate(raw_nodes)]
        ids = self.check_ids(specs)
        edges = [e for i, raw in enumerate(raw_edges) if (e := self.edge(i, raw, ids))]
        if self.problems:
            return None
        node_ids = [spec.node_id for spec in specs if spec is not None]
        cycle = find_cycle(node_ids, edges)
        if cycle:
            self.problem(".edges", "workflow contains cycles (circular dependencies): "
                         + " -> ".join(cycle))
            return None
        return CheckedPayload(workflow_id, tuple(s for s in specs if s is not None),
                              tuple(edges), tuple(node_ids))

    def node(self, i: int, raw: Any) -> NodeSpec | None:
        path = f".nodes[{i}]"
        if not isinstance(raw, Mapping):
            self.problem(path, f"node must be an object, got {_type_name(raw)}")
            return None
        written = written_keys(raw.get("data"))  # problems name keys as the user wrote them
        raw = canonical_node(raw)  # the editor's type names and camelCase keys
        node_id = raw.get("id")
        ok = True
        if node_id is None or node_id == "":
            self.problem(f"{path}.id", "required: a non-empty string")
            ok = False
        elif not isinstance(node_id, str):
            self.problem(f"{path}.id", f"must be a string, got {_type_name(node_id)}")
            ok = False
        data = raw.get("data", {})
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            self.problem(f"{path}.data", f"must be an object, got {_type_name(data)}")
            return None
        node_type = raw.get("type")
        if node_type is None or node_type == "":
            node_type = infer_type(data)
            if node_type is None:
                self.problem(f"{path}.type", "required: cannot infer the node type from its data")
                return None
        if not isinstance(node_type, str):
            self.problem(f"{path}.type", f"must be a string, got {_type_name(node_type)}")
            return None
        cls = NODE_TYPES.get(node_type)
        if cls is None:
            self.problem(f"{path}.type", f"unknown node type {node_type!r}")
            return None
        if not (ok and isinstance(node_id, str)):
            # still report its data problems
            self.fields(cls, data, f"{path}.data", f"#{i}", written)
            return None
        return NodeSpec(node_id, cls, self.fields(cls, data, f"{path}.data", node_id, written), i)

    def fields(self, cls: type[Node], data: Mapping[str, Any], path: str,
               node_id: str, written: Mapping[str, str] | None = None) -> dict[str, Any]:
        """The node's config from `data` (canonical keys); `written` maps a renamed key back
        to its spelling in the user's document, for problem paths."""
        written = written or {}
        config: dict[str, Any] = {}
        before = len(self.problems)
        self.value_depth = 0
        for f in cls.fields:
            key, value = _find(data, f)
            if value is _MISSING:
                if f.required:
                    self.problem(f"{path}.{f.name}", f"required ({f.kind})")
                    continue
                value = f.default
                if value is None:
                    config[f.name] = None
                    continue
                key = f.name
            config[f.name] = self.convert(f, value, f"{path}.{written.get(key, key)}", node_id)
        if len(self.problems) == before:
            cls.check(config, lambda name, message: self.problem(
                f"{path}.{written.get(name, name)}", message))
        names = {f.name for f in cls.fields}
        config["_policy"] = self.policy(data, names, path)
        config["_depth"] = self.value_depth
        # the data as written: results echo some fields as given (a cache ttl of "10m")
        config["_given"] = data
        return config

    def policy(self, data: Mapping[str, Any], declared: set[str], path: str) -> NodePolicy:
        retry = timeout = None
        if "retry" not in declared and "retry" in data:
            retry = parse_retry(data["retry"], lambda sub, msg: self.problem(
                f"{path}.retry{sub}", msg))
        if "timeout" not in declared and "timeout" in data:
            timeout = parse_timeout(data["timeout"], lambda sub, msg: self.problem(
                f"{path}.timeout{sub}", msg))
        if retry is None and timeout is None:
            return NO_POLICY
        return NodePolicy(retry=retry, timeout=timeout)

    def convert(self, f: Field, value: Any, path: str, node_id: str) -> Any:
        converted = _MISSING
        kind = f.kind
        if kind in _JSON_KINDS:
            value = self.admit(value, path)
            if value is _MISSING:
                return None
        if kind == "any":
            converted = value
        elif kind == "string":
            if isinstance(value, str):
                converted = value
        elif kind in ("number", "integer"):
            converted = _number(value, integral=kind == "integer")
        elif kind == "boolean":
            if isinstance(value, bool):
                converted = value
            elif isinstance(value, str) and value.lower() in ("true", "false"):
                converted = value.lower() == "true"
        elif kind == "array":
            if isinstance(value, list):
                converted = value
        elif kind == "object":
            if isinstance(value, Mapping):
                converted = value
        elif kind == "duration":
            try:
                return parse_duration(value)
            except ValueError as exc:
                self.problem(path, str(exc))
                return None
        elif kind == "expression":
            return self.expression(value, path, node_id)
        elif kind == "workflow":
            return self.body(value, path)
        if converted is _MISSING:
            self.problem(path, f"must be {'an' if kind[0] in 'aeiou' else 'a'} {kind}, "
                         f"got {_type_name(value)}")
            return None
        if f.choices and not f.choices_at_run:
            probe = converted.lower() if f.fold_case and isinstance(converted, str) else converted
            if probe not in f.choices:
                choices = ", ".join(map(str, f.choices))
                self.problem(path, f"{f.unsupported.format(value=converted)} (must be one of "
                             f"{choices})" if f.unsupported
                             else f"must be one of {choices}; got {converted!r}")
                return None
            converted = probe
        return converted

    def admit(self, value: Any, path: str) -> Any:
        """`value` under the number rule and the depth limit (engine/bounds.py); _MISSING
        after reporting where it breaks them."""
        cls = value.__class__
        if cls is str or cls is bool or value is None or (
                cls is int and -SAFE_INTEGER <= value <= SAFE_INTEGER) or (
                cls is float and math.isfinite(value)):
            return value  # the common case, at no cost
        before = len(self.problems)
        value, depth = bounds.admit(value, self.limits.max_depth, path, self.problem)
        if len(self.problems) > before:
            return _MISSING
        self.value_depth = max(self.value_depth, depth)
        return value

    def expression(self, value: Any, path: str, node_id: str) -> Any:
        if not isinstance(value, str):
            self.problem(path, f"expression must be a string, got {_type_name(value)}")
            return None
        from engine.expressions import compile_expression  # the compiler loads on first use

        try:
            return compile_expression(value)
        except ExpressionSyntaxError as exc:
            self.problem(path, f"node {node_id!r}: expression syntax error at column "
                         f"{exc.column}: {exc.reason}")
            return None

    def body(self, value: Any, path: str) -> CheckedPayload | None:
        if self.depth >= 8:
            self.problem(path, "sub-workflows nest deeper than 8 levels")
            return None
        checker = PayloadChecker(self.limits, self.prefix + path, self.depth + 1)
        checked = checker.check(value)
        self.problems.extend(checker.problems)
        return checked

    def check_ids(self, specs: list[NodeSpec | None]) -> set[str]:
        seen: dict[str, int] = {}
        for spec in specs:
            if spec is None:
                continue
            node_id, i = spec.node_id, spec.index
            if node_id in seen:
                self.problem(f".nodes[{i}].id", f"duplicate id {node_id!r} "
                             f"(also at $.nodes[{seen[node_id]}])")
            else:
                seen[node_id] = i
        return set(seen)

    def edge(self, i: int, raw: Any, ids: set[str]) -> Edge | None:
        path = f".edges[{i}]"
        if not isinstance(raw, Mapping):
            self.problem(path, f"edge must be an object, got {_type_name(raw)}")
            return None
        ends = []
        for key in ("source", "target"):
            value = raw.get(key)
            if not isinstance(value, str) or not value:
                self.problem(f"{path}.{key}", "required: a node id (string)")
            elif value not in ids:
                self.problem(f"{path}.{key}", f"unknown node {value!r}")
            else:
                ends.append(value)
        handle = raw.get("sourceHandle")
        if handle is None:
            handle = raw.get("condition")  # Thaiyyal's legacy name
        if handle is not None and not isinstance(handle, str):
            self.problem(f"{path}.sourceHandle", f"must be a string, got {_type_name(handle)}")
            return None
        if len(ends) != 2:
            return None
        return Edge(ends[0], ends[1], handle or None)


def _find(data: Mapping[str, Any], f: Field) -> tuple[str, Any]:
    for key in (f.name, *f.aliases):
        value = data.get(key, _MISSING)
        if value is not _MISSING and value is not None:
            return key, value
    return f.name, _MISSING


def _number(value: Any, integral: bool) -> Any:
    if isinstance(value, bool):
        return _MISSING
    if isinstance(value, str):
        try:
            value = float(value) if any(c in value for c in ".eE") else int(value)
        except ValueError:
            return _MISSING
    if isinstance(value, float) and integral:
        return int(value) if value.is_integer() else _MISSING
    if isinstance(value, int | float):
        # NaN and infinities (JSON's 1e400 decodes to inf) are not numbers users mean
        if isinstance(value, float) and not math.isfinite(value):
            return _MISSING
        return value
    return _MISSING
