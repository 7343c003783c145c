"""What the admin's graph pages draw: the JSON each page hands to its graph script, version
comparison (a JSON diff and per-node marks), and the context variables the execute page
prefills. The drawing itself is done in the browser (frontend/, built into
workflows/static/vendor and workflows/static/workflows/dist)."""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from engine import PayloadError
from engine.result import Result
from workflows import services
from workflows.models import NodeRun, Run, WorkflowVersion

#: outputs handed to the page are cut to this many characters of JSON each
OUTPUT_PREVIEW_CHARS = 20_000


def _preview(value: Any, truncated: bool = False) -> tuple[Any, bool]:
    text = json.dumps(value, ensure_ascii=False, default=str)
    if len(text) <= OUTPUT_PREVIEW_CHARS:
        return value, truncated
    return text[:OUTPUT_PREVIEW_CHARS] + "…", True


def _nodes_only(node_types: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """A stand-in definition for a run whose version is not stored (ad-hoc runs)."""
    return {"nodes": [{"id": node_id, "type": node_type} for node_id, node_type in node_types],
            "edges": []}


def run_graph(run: Run, node_runs: list[NodeRun]) -> dict[str, Any]:
    """A recorded run: its version's definition and each node's outcome."""
    outcomes = []
    for node in node_runs:
        output, truncated = _preview(node.output, node.output_truncated)
        outcomes.append({"node_id": node.node_id, "status": node.status,
                         "duration_ms": node.duration_ms, "attempts": node.attempts,
                         "started_offset_ms": node.started_offset_ms,
                         "error": node.error or None, "output": output,
                         "output_truncated": truncated})
    definition = run.version.definition if run.version is not None else _nodes_only(
        (n.node_id, n.node_type) for n in node_runs)
    return {"definition": definition, "outcomes": outcomes,
            "failed_node": (run.error or {}).get("node_id")}


def result_graph(definition: Any, result: Result) -> dict[str, Any]:
    """A run just executed (the execute page): outcomes straight from the engine's result."""
    outcomes = []
    for node in result.nodes:
        output, truncated = _preview(result.node_results.get(node.id))
        outcomes.append({"node_id": node.id, "status": node.status,
                         "duration_ms": node.duration_ms, "attempts": node.attempts,
                         "started_offset_ms": node.started_ms, "error": node.error,
                         "output": output, "output_truncated": truncated})
    return {"definition": definition, "outcomes": outcomes,
            "failed_node": (result.error or {}).get("node_id")}


def _nodes_by_id(definition: Any) -> dict[str, Any]:
    nodes = definition.get("nodes") if isinstance(definition, Mapping) else None
    return {n["id"]: n for n in nodes or []
            if isinstance(n, Mapping) and isinstance(n.get("id"), str)}


def _edge_keys(definition: Any) -> set[tuple[Any, Any, Any]]:
    edges = definition.get("edges") if isinstance(definition, Mapping) else None
    return {(e.get("source"), e.get("target"), e.get("sourceHandle", e.get("condition")))
            for e in edges or [] if isinstance(e, Mapping)}


def _without_position(node: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in node.items() if k != "position"}


def compare_versions(old: WorkflowVersion, new: WorkflowVersion) -> dict[str, Any]:
    """What changed from `old` to `new`: a unified diff of their JSON, the graph of both
    (the newer one plus the removed nodes and edges) with each node marked added, removed or
    changed (moving a node is not a change), and counts."""
    before, after = _nodes_by_id(old.definition), _nodes_by_id(new.definition)
    marks: dict[str, str] = {}
    for node_id, node in after.items():
        if node_id not in before:
            marks[node_id] = "added"
        elif _without_position(before[node_id]) != _without_position(node):
            marks[node_id] = "changed"
    removed = [n for node_id, n in before.items() if node_id not in after]
    for node in removed:
        marks[node["id"]] = "removed"
    union = dict(new.definition) if isinstance(new.definition, Mapping) else {}
    union["nodes"] = [*after.values(), *removed]
    new_edges = _edge_keys(new.definition)
    union["edges"] = [*(new.definition.get("edges") or []),
                      *({"source": s, "target": t, **({"sourceHandle": h} if h else {})}
                        for s, t, h in _edge_keys(old.definition) - new_edges)]
    diff = difflib.unified_diff(_pretty_lines(old.definition), _pretty_lines(new.definition),
                                f"version {old.number}", f"version {new.number}", lineterm="")
    return {"graph": {"definition": union, "marks": marks}, "diff": list(diff),
            "counts": {kind: sum(1 for m in marks.values() if m == kind)
                       for kind in ("added", "removed", "changed")},
            "edges": {"added": len(new_edges - _edge_keys(old.definition)),
                      "removed": len(_edge_keys(old.definition) - new_edges)}}


def _pretty_lines(value: Any) -> list[str]:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True).splitlines()


def context_variables(version: WorkflowVersion) -> list[dict[str, Any]]:
    """The version's context variables (name, type, default): what execute's inputs can
    override. Empty for a version that no longer loads."""
    try:
        workflow = services.load_version(version)
    except PayloadError:
        return []
    declared: dict[str, str] = {}
    for node in _nodes_by_id(version.definition).values():
        data = node.get("data") if isinstance(node.get("data"), Mapping) else {}
        for entry in data.get("context_values") or []:
            if isinstance(entry, Mapping) and isinstance(entry.get("name"), str):
                declared[entry["name"]] = str(entry.get("type") or "")
        if isinstance(data.get("context_name"), str):
            declared.setdefault(data["context_name"], str(data.get("context_type") or ""))
    return [{"name": name, "type": declared.get(name) or _json_type(value), "default": value}
            for name, value in workflow.context_defaults().items()]


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    names: dict[type, str] = {str: "string", list: "array", dict: "object"}
    return names.get(type(value), "any")
