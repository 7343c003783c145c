"""What a run returns. JSON-safe through `to_dict()`; the API's `results` object."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class NodeOutcome:
    """One node's part in a run. Offsets and durations are milliseconds from the run start."""

    id: str
    type: str
    #: succeeded | failed | skipped | cancelled (abandoned or stopped) | running (at deadline)
    status: str
    started_ms: float | None = None
    duration_ms: float | None = None
    error: str | None = None
    attempts: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "type": self.type, "status": self.status,
                "started_ms": self.started_ms, "duration_ms": self.duration_ms,
                "error": self.error, "attempts": self.attempts}


@dataclass(slots=True)
class Result:
    execution_id: str
    status: str
    final_output: Any
    node_results: dict[str, Any]
    #: builds the per-node outcomes on first use: most callers never look at them, and
    #: building them eagerly cost more than running a small node
    timeline: Callable[[], list[NodeOutcome]]
    duration_ms: float
    workflow_id: str | None = None
    #: Thaiyyal-style messages: "error executing node <id>: <cause>"
    errors: list[str] = field(default_factory=list)
    #: the failure that stopped the run: {code, node_id, message}, or None
    error: dict[str, Any] | None = None
    #: nodes still working when the run's deadline passed
    still_running: list[str] = field(default_factory=list)
    _nodes: list[NodeOutcome] | None = None

    @property
    def nodes(self) -> list[NodeOutcome]:
        """Per node, in plan order: status, start offset and duration (ms), error, attempts."""
        if self._nodes is None:
            self._nodes = self.timeline()
        return self._nodes

    @property
    def succeeded(self) -> bool:
        return self.status == "succeeded"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "execution_id": self.execution_id,
            "status": self.status,
            "final_output": self.final_output,
            "node_results": self.node_results,
            "duration_ms": self.duration_ms,
            "nodes": [n.to_dict() for n in self.nodes],
        }
        if self.workflow_id is not None:
            out["workflow_id"] = self.workflow_id
        if self.errors:
            out["errors"] = self.errors
        if self.error is not None:
            out["error"] = self.error
        if self.still_running:
            out["still_running"] = self.still_running
        return out
