"""`Prefer: respond-async` (RFC 7240) on the execute endpoints, and workflows whose
`execution_mode` sends their runs to the queue: 202 Accepted, `Location` naming the run,
and the run (`queued`). The run itself happens on a `thaiyyal worker`
(workflows/queueing.py)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import URLValidator
from rest_framework import exceptions, status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from engine import Limits
from workflows import queueing
from workflows.api import idempotent as idem
from workflows.api import serializers as s
from workflows.models import Run, Trigger, WorkflowVersion

PREFERENCE = "respond-async"


class QueueNotAvailable(exceptions.APIException):
    """queueing.QueueUnavailable on its way to the client as a 503."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "queue_unavailable"


def prefers_async(request: Request) -> bool:
    """Whether the request's `Prefer` header asks for `respond-async`."""
    header = request.headers.get("Prefer", "")
    return any(part.split(";")[0].strip().lower() == PREFERENCE for part in header.split(","))


def runs_queued(request: Request, mode: str, limits: Limits) -> bool:
    """Whether a run of a workflow in `mode` goes to the queue: asked for, or `async`, or
    `auto` with a time limit longer than the web tier's (THAIYYAL_WEB_MAX_EXECUTION_TIME;
    without a queue configured, `auto` runs in the request)."""
    return prefers_async(request) or queueing.mode_queues(mode, limits)


def callback_url(value: Any, path: str, queued: bool) -> str:
    """A checked `callback_url` ("" when absent): http(s), and only for queued runs."""
    if value in (None, ""):
        return ""
    if not queued:
        raise ValidationError({path: ["needs a queued run (header `Prefer: respond-async`)"]})
    try:
        URLValidator(schemes=["http", "https"])(value)
    except (DjangoValidationError, TypeError):
        raise ValidationError({path: ["must be an http or https URL"]}) from None
    return str(value)


def enqueue_payload(request: Request, raw: bytes, limits: Limits) -> Response:
    url = callback_url(request.query_params.get("callback_url"), "query.callback_url", True)
    try:
        run = queueing.enqueue_payload(request.data, raw=raw, user=request.user, limits=limits,
                                       run_id=idem.planned_run_id(request),
                                       callback_url=url)
    except queueing.QueueUnavailable as exc:
        raise QueueNotAvailable(str(exc)) from None
    return accepted(run)


def enqueue_version(request: Request, version: WorkflowVersion, inputs: dict[str, Any] | None,
                    limits: Limits, url: str) -> Response:
    try:
        run = queueing.enqueue_version(version, user=request.user, limits=limits,
                                       inputs=inputs, run_id=idem.planned_run_id(request),
                                       trigger=Trigger.API, callback_url=url)
    except queueing.QueueUnavailable as exc:
        raise QueueNotAvailable(str(exc)) from None
    return accepted(run)


def accepted(run: Run) -> Response:
    """202 with the run and where to follow it."""
    response = Response(s.RunDetailSerializer(run).data, status=status.HTTP_202_ACCEPTED)
    response["Location"] = location(run.pk)
    response["Preference-Applied"] = PREFERENCE
    return response


def location(run_id: Any) -> str:
    return f"/api/v1/runs/{run_id}"
