"""The execute endpoints' answer, shared by the native and the Thaiyyal-compatible paths."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from rest_framework import status
from rest_framework.request import Request

from engine import Limits
from workflows import services
from workflows.api.renderers import RunSafeJSONRenderer
from workflows.services import Execution

#: limits a request may lower through query parameters (`?max_execution_time=5s`)
LOWERABLE_LIMITS = frozenset(Limits.__dataclass_fields__)


def query_limits(request: Request) -> Limits:
    """The server's limits lowered by the request's query parameters named after limits
    (e.g. `?max_execution_time=5s&max_node_executions=100`); never raised. A bad value is
    a 400 naming `$.query.<limit>`."""
    requested = {k: v for k, v in request.query_params.items() if k in LOWERABLE_LIMITS}
    return services.request_limits(requested, path="$.query")


def encoded_execution(execution: Execution, **extra: Any) -> HttpResponse:
    """execution_response, encoded now (an `answer` for services.execute_*): raises
    ValueError or RecursionError if the result cannot be written as JSON, so the service
    records the run failed instead of succeeded."""
    code, body = execution_response(execution, **extra)
    return HttpResponse(_RENDERER.render(body), status=code, content_type="application/json")


_RENDERER = RunSafeJSONRenderer()


def execution_response(execution: Execution, **extra: Any) -> tuple[int, dict[str, Any]]:
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
        return status.HTTP_200_OK, body
    failure = result.error or {}
    node_id = failure.get("node_id")
    message = failure.get("message") or "; ".join(result.errors) or "run failed"
    body["error"] = message
    body["failed_node"] = node_id
    body["details"] = [{"path": execution.node_path(node_id) if node_id else "$",
                        "message": message, "code": failure.get("code")}]
    return status.HTTP_422_UNPROCESSABLE_ENTITY, body
