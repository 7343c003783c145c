"""`POST /api/v1/hooks/{secret}`: a stored workflow's webhook. The secret in the path is
the credential (rotated in the admin); the JSON body (an object, or nothing) becomes the
run's inputs. The run goes as the workflow's `execution_mode` says: answered like
`POST /api/v1/workflows/{id}/execute` (200/422), or queued (202). It is recorded with
trigger `webhook`, on behalf of the workflow's owner, counts as one of the owner's runs in
flight (429 with Retry-After past their cap), and honours `Idempotency-Key` as the execute
endpoints do (the key is the owner's)."""

from __future__ import annotations

import functools
from typing import Any

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.views import APIView

from workflows import queueing, services
from workflows.api import idempotent as idem
from workflows.api import serializers as s
from workflows.api.asynchronous import QueueNotAvailable, accepted, runs_queued
from workflows.api.inflight import run_slot
from workflows.api.responses import encoded_execution
from workflows.api.throttles import AnonThrottle
from workflows.models import Trigger, Workflow


def _hooked(request: Request, secret: str) -> Workflow | None:
    """The workflow whose webhook `secret` is (looked up once per request)."""
    if not hasattr(request, "_hooked_workflow"):
        request._hooked_workflow = (  # type: ignore[attr-defined]
            Workflow.objects.select_related("owner", "current_version")
            .filter(webhook_secret=secret).exclude(webhook_secret="").first())
    return request._hooked_workflow  # type: ignore[attr-defined,no-any-return]


def _owner(request: Request, secret: str) -> Any:
    workflow = _hooked(request, secret)
    return workflow.owner if workflow is not None else None


class WebhookView(APIView):
    authentication_classes: list[type] = []
    permission_classes = [AllowAny]
    throttle_classes = [AnonThrottle]

    # Webhook senders retry on timeouts: a key makes the retry safe. There is no user to
    # own the key, so it is the workflow owner's (whose runs these are).
    @extend_schema(
        request=OpenApiTypes.OBJECT, operation_id="webhook_run", parameters=[idem.PARAMETER],
        responses={200: s.ExecutionResponseSerializer,
                   202: OpenApiResponse(s.RunDetailSerializer,
                                        description="queued (the workflow's execution_mode): "
                                                    "the `queued` run; `Location` names it"),
                   422: OpenApiResponse(s.ExecutionResponseSerializer,
                                        description="the run failed: partial results and "
                                                    "the failing node"),
                   503: OpenApiResponse(s.ErrorSerializer,
                                        description="the database is unreachable, or the "
                                                    "run was to be queued and no queue is "
                                                    "configured or reachable"),
                   **idem.RESPONSES})
    @idem.keyed_by(_owner)
    def post(self, request: Request, secret: str) -> HttpResponse:
        workflow = _hooked(request, secret)
        if workflow is None or workflow.current_version is None:
            raise NotFound("no workflow has this webhook")
        inputs = request.data if request.body else {}
        if not isinstance(inputs, dict):
            raise ValidationError({"non_field_errors": ["the body must be a JSON object of "
                                                        "inputs: {name: value}"]})
        limits = services.server_limits()
        version = workflow.current_version
        if runs_queued(request, workflow.execution_mode, limits):
            try:
                run = queueing.enqueue_version(version, user=workflow.owner, limits=limits,
                                               inputs=inputs or None, trigger=Trigger.WEBHOOK,
                                               run_id=idem.planned_run_id(request))
            except queueing.QueueUnavailable as exc:
                raise QueueNotAvailable(str(exc)) from None
            return accepted(run)
        answer = functools.partial(encoded_execution, workflow_id=workflow.pk,
                                   workflow_name=workflow.name, version=version.number)
        with run_slot(workflow.owner):  # the owner's runs in flight, like their executes
            execution = services.execute_version(version, user=workflow.owner,
                                                 inputs=inputs or None, answer=answer,
                                                 trigger=Trigger.WEBHOOK,
                                                 run_id=idem.planned_run_id(request))
        return execution.answer
