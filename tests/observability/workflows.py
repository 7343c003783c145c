"""Workflows the observability tests run (payloads for POST /api/v1/workflow/execute)."""

from __future__ import annotations

from typing import Any

#: 2 + 3: three nodes (number, number, operation), succeeds
ADD: dict[str, Any] = {
    "nodes": [
        {"id": "a", "type": "number", "data": {"value": 2}},
        {"id": "b", "type": "number", "data": {"value": 3}},
        {"id": "sum", "type": "operation", "data": {"op": "add"}},
    ],
    "edges": [{"source": "a", "target": "sum"}, {"source": "b", "target": "sum"}],
}

#: 10 / 0: fails at node "div" with a node_error
DIVIDE_BY_ZERO: dict[str, Any] = {
    "nodes": [
        {"id": "a", "type": "number", "data": {"value": 10}},
        {"id": "zero", "type": "number", "data": {"value": 0}},
        {"id": "div", "type": "operation", "data": {"op": "divide"}},
    ],
    "edges": [{"source": "a", "target": "div"}, {"source": "zero", "target": "div"}],
}


def slow(ms: int) -> dict[str, Any]:
    """A delay node: the run takes at least `ms` milliseconds."""
    return {"nodes": [{"id": "wait", "type": "delay", "data": {"duration": f"{ms}ms"}}],
            "edges": []}


def http_get(url: str, cache: bool = False) -> dict[str, Any]:
    """One http node fetching `url` (optionally through the response cache)."""
    return {"nodes": [{"id": "fetch", "type": "http",
                       "data": {"url": url, "cache": cache}}], "edges": []}
