"""`POST /api/v1/hooks/{secret}`: a stored workflow's webhook. The secret in the path is
the credential (rotated in the admin); the JSON body (an object, or nothing) becomes the
run's inputs. The run goes as the workflow's `execution_mode` says: answered like
`POST /api/v1/workflows/{id}/execute` (200/422), or queued (202). It is recorded with
trigger `webhook`, on behalf of the workflow's owner, and counts as one of the owner's runs
in flight (429 with Retry-After past their cap)."""

from __future__ import annotations

import functools

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.views import APIView

from workflows import queueing, services
from workflows.api import serializers as s
from workflows.api.asynchronous import QueueNotAvailable, accepted, runs_queued
from workflows.api.inflight import run_slot
from workflows.api.responses import encoded_execution
from workflows.api.throttles import AnonThrottle
from workflows.models import Trigger, Workflow


class WebhookView(APIView):
    authentication_classes: list[type] = []
    permission_classes = [AllowAny]
    throttle_classes = [AnonThrottle]

    @extend_schema(
        request=OpenApiTypes.OBJECT, operation_id="webhook_run",
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
                                                    "configured or reachable")})
    def post(self, request: Request, secret: str) -> HttpResponse:
        workflow = (Workflow.objects.select_related("owner", "current_version")
                    .filter(webhook_secret=secret).exclude(webhook_secret="").first())
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
                                               inputs=inputs or None, trigger=Trigger.WEBHOOK)
            except queueing.QueueUnavailable as exc:
                raise QueueNotAvailable(str(exc)) from None
            return accepted(run)
        answer = functools.partial(encoded_execution, workflow_id=workflow.pk,
                                   workflow_name=workflow.name, version=version.number)
        with run_slot(workflow.owner):  # the owner's runs in flight, like their executes
            execution = services.execute_version(version, user=workflow.owner,
                                                 inputs=inputs or None, answer=answer,
                                                 trigger=Trigger.WEBHOOK)
        return execution.answer
