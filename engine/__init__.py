"""Thaiyyal's workflow engine: pure Python, no Django.

    from engine import Workflow, execute, Limits, PayloadError

    wf = Workflow.load(payload)          # dict | str | bytes; PayloadError lists every problem
    result = wf.execute(limits=Limits(max_execution_time=30.0))
    result.status, result.final_output, result.node_results, result.to_dict()
"""

from __future__ import annotations

from typing import Any

from engine.canonical import canonical_definition
from engine.errors import (
    ExecutionError,
    ExpressionError,
    ExpressionSyntaxError,
    LimitExceeded,
    NodeError,
    PayloadError,
    Problem,
)
from engine.limits import Limits, parse_duration
from engine.observe import NullObserver, Observer, RecordingObserver
from engine.payload import Workflow
from engine.result import NodeOutcome, Result


def execute(payload: Any, limits: Limits | None = None, observer: Observer | None = None,
            inputs: dict[str, Any] | None = None,
            services: dict[str, Any] | None = None) -> Result:
    """Load and run in one call. Raises PayloadError for an invalid payload only."""
    return Workflow.load(payload, limits).execute(limits, observer, inputs, services)


__all__ = [
    "ExecutionError", "ExpressionError", "ExpressionSyntaxError", "LimitExceeded", "Limits",
    "NodeError", "NodeOutcome", "NullObserver", "Observer", "PayloadError", "Problem",
    "RecordingObserver", "Result", "Workflow", "canonical_definition", "execute",
    "parse_duration",
]
