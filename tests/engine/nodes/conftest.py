"""Fixtures for node tests: load one node through the real payload loader, then run it on
inputs the test chooses (any JSON value), inside a real run; or build small payloads for
`engine.execute`."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from engine import Limits, PayloadError, Workflow
from engine.nodes.base import Node
from engine.state import NodeContext, Run


def _load_node(node_type: str, data: dict[str, Any], limits: Limits | None = None) -> Node:
    """The node built from `data` exactly as `Workflow.load` builds it (defaults, aliases,
    compiled expressions, loaded bodies)."""
    payload = {"nodes": [{"id": "n", "type": node_type, "data": data}], "edges": []}
    return Workflow.load(payload, limits).nodes[0]


def _run_node(node_type: str, data: dict[str, Any], *inputs: Any,
             limits: Limits | None = None, context: dict[str, Any] | None = None) -> Any:
    """Load one node and run it once on `inputs` (in edge order)."""
    node = _load_node(node_type, data, limits)
    run = Run("test", limits or Limits(), dict(context or {}), None, None)
    return node.run(list(inputs), NodeContext(run, node.id))


def _load_problems(node_type: str, data: dict[str, Any]) -> list[dict[str, str]]:
    """The problems `Workflow.load` reports for a one-node workflow (fails if it loads)."""
    payload = {"nodes": [{"id": "n", "type": node_type, "data": data}], "edges": []}
    with pytest.raises(PayloadError) as caught:
        Workflow.load(payload)
    return caught.value.to_list()


def _chain(*nodes: tuple[str, str, dict[str, Any]],
          edges: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A payload from (id, type, data) triples, wired in a line unless `edges` is given."""
    payload_nodes = [{"id": i, "type": t, "data": d} for i, t, d in nodes]
    if edges is None:
        edges = [{"source": a[0], "target": b[0]} for a, b in itertools.pairwise(nodes)]
    return {"nodes": payload_nodes, "edges": edges}


@pytest.fixture
def load_node() -> Any:
    return _load_node


@pytest.fixture
def run_node() -> Any:
    return _run_node


@pytest.fixture
def load_problems() -> Any:
    return _load_problems


@pytest.fixture
def chain() -> Any:
    return _chain
