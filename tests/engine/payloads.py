"""Builders for workflow payloads in engine tests: `node("a", "number", value=1)`,
`edge("a", "b", "true")`."""

from __future__ import annotations

from typing import Any


def node(node_id: str, node_type: str, **data: Any) -> dict[str, Any]:
    return {"id": node_id, "type": node_type, "data": data}


def edge(source: str, target: str, handle: str | None = None) -> dict[str, Any]:
    e: dict[str, Any] = {"source": source, "target": target}
    if handle is not None:
        e["sourceHandle"] = handle
    return e
