"""The execute endpoints' answer, shared by the native and the Thaiyyal-compatible paths."""

from __future__ import annotations

from typing import Any

from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from engine import Limits
from workflows import services
from workflows.services import Execution

#: limits a request may lower through query parameters (`?max_execution_time=5s`)
LOWERABLE_LIMITS = frozenset(Limits.__dataclass_fields__)


def query_limits(request: Request) -> Limits:
    """The server's limits lowered by the request's query parameters named after limits
    (e.g. `?max_execution_time=5s&max_node_executions=100`); never raised. A bad value is
    a 400 naming `$.query.<limit>`."""
    requested = {k: v for k, v in request.query_params.items() if k in LOWERABLE_LIMITS}
    return services.request_limits(requested, path="$.query")


def execution_response(execution: Execution, **extra: Any) -> Response:
    """200 with the results when the run succeeded; 422 with the partial results, the
    failing node and its path when it failed."""
    result = execution.result
    results = result.to_dict()
    nodes = results.pop("nodes")
    body: dict[str, Any] = {
        "success": result.succeeded,
        "run_id": execution.run_id,
        "status": result.status,
        "execution_time_ms": result.duration_ms,
        **extra,
        "results": results,
        "nodes": nodes,
    }
    if result.succeeded:
        return Response(body, status=status.HTTP_200_OK)
    failure = result.error or {}
    node_id = failure.get("node_id")
    message = failure.get("message") or "; ".join(result.errors) or "run failed"
    body["error"] = message
    body["failed_node"] = node_id
    body["details"] = [{"path": execution.node_path(node_id) if node_id else "$",
                        "message": message, "code": failure.get("code")}]
    return Response(body, status=status.HTTP_422_UNPROCESSABLE_ENTITY)
