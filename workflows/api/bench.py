"""Benchmark-only endpoints: the floors `make bench-api` measures the execute API against.

Mounted under /api/v1/bench/ only when THAIYYAL_BENCH_ENDPOINTS=1 (setting or environment);
never enable them on a server anyone else uses — floor B writes a row per request.

- `floor-a`: what any authenticated DRF endpoint here costs: token auth, the default
  throttles, parsing the JSON body, rendering a small JSON object. No engine, no database
  write.
- `floor-b`: floor A plus what recording one short run costs at least: one INSERT and one
  UPDATE of a run-sized row, in one transaction (one commit), as the recorder does.

If ad-hoc execute is close to floor A, the engine costs little; if recorded execute is
close to floor B, recording costs no more than the minimum a durable run needs.
"""

from __future__ import annotations

import os
from typing import Any

from django.conf import settings
from django.db import transaction
from django.urls import path
from django.utils import timezone
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from workflows.models import Run, RunStatus, new_run_id

ENV = "THAIYYAL_BENCH_ENDPOINTS"


def enabled() -> bool:
    value = getattr(settings, ENV, None)
    if value is None:
        value = os.environ.get(ENV, "").strip().lower() in {"1", "true", "yes", "on"}
    return bool(value)


def _summary(request: Request) -> dict[str, Any]:
    data = request.data  # parses the body, as execute does
    if not isinstance(data, dict):
        raise ValidationError({"non_field_errors": ["the body must be a JSON object"]})
    nodes, edges = data.get("nodes"), data.get("edges")
    return {"success": True,
            "nodes": len(nodes) if isinstance(nodes, list) else 0,
            "edges": len(edges) if isinstance(edges, list) else 0}


class FloorA(APIView):
    """Parse the body, answer a small JSON object."""

    schema = None  # not part of the API's OpenAPI document

    def post(self, request: Request) -> Response:
        return Response(_summary(request))


class FloorB(APIView):
    """Floor A plus one INSERT and one UPDATE of a run-sized row in one transaction."""

    schema = None

    def post(self, request: Request) -> Response:
        summary = _summary(request)
        started = timezone.now()
        with transaction.atomic():
            run = Run.objects.create(
                id=new_run_id(), status=RunStatus.RUNNING, started_at=started,
                limits=dict(settings.THAIYYAL_LIMITS), node_count=summary["nodes"],
                requested_by=request.user, worker_host="bench", worker_pid=os.getpid())
            finished = timezone.now()
            Run.objects.filter(pk=run.pk).update(
                status=RunStatus.SUCCEEDED, finished_at=finished,
                duration_ms=(finished - started).total_seconds() * 1000,
                execution_id=run.id.hex[:16], final_output=summary)
        summary["run_id"] = str(run.id)
        return Response(summary)


urlpatterns = [
    path("floor-a", FloorA.as_view(), name="bench-floor-a"),
    path("floor-b", FloorB.as_view(), name="bench-floor-b"),
] if enabled() else []
