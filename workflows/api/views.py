"""REST API views. They parse, authorise and translate; runs happen in
workflows.services."""

from __future__ import annotations

import functools
from typing import Any

from django.db.models import Q, QuerySet
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.pagination import CursorPagination, PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from engine import PayloadError
from engine.catalog import describe_node_types
from workflows import queueing, services
from workflows.api import asynchronous
from workflows.api import idempotent as idem
from workflows.api import serializers as s
from workflows.api.errors import InvalidWorkflow, error_body, prefixed
from workflows.api.inflight import capped
from workflows.api.responses import encoded_execution, query_limits
from workflows.api.throttles import AnonThrottle, ExecuteThrottle, UserThrottle
from workflows.models import Run, RunStatus, Workflow, WorkflowVersion

EXECUTE_THROTTLES = [AnonThrottle, UserThrottle, ExecuteThrottle]
#: how long a cancel request waits for a running run to stop before answering 202
CANCEL_WAIT_SECONDS = 2.0

#: the rest (401, 403, 413, 415, 429) is added to every operation by api/schema.py
ERRORS = {
    400: OpenApiResponse(s.ErrorSerializer, description="invalid request or workflow"),
}
EXECUTE_RESPONSES = {
    200: s.ExecutionResponseSerializer,
    202: OpenApiResponse(s.RunDetailSerializer,
                         description="queued (`Prefer: respond-async`, or a stored workflow "
                                     "whose `execution_mode` sends its runs to the queue): "
                                     "the `queued` run; `Location` names it"),
    422: OpenApiResponse(s.ExecutionResponseSerializer,
                         description="the run failed: partial results and the failing node "
                                     f"(or, as an error, the {idem.HEADER} was used for a "
                                     "different request)"),
    503: OpenApiResponse(s.ErrorSerializer,
                         description="the database is unreachable, or the run was to be "
                                     "queued and no queue is configured or reachable "
                                     "(Retry-After says when to retry)"),
    **idem.RESPONSES,
    **ERRORS,
}
#: asking for a queued run (RFC 7240)
PREFER = OpenApiParameter(
    "Prefer", str, OpenApiParameter.HEADER, required=False, enum=["respond-async"],
    examples=[OpenApiExample("queued", value="respond-async")],
    description="`respond-async`: queue the run for a `thaiyyal worker` and answer 202 with "
                "the queued run at once (503 without a queue). Anything else: run it in "
                "the request (unless the workflow's `execution_mode` queues it).")
#: where a queued run's answer goes: the query for an ad-hoc run, the body for a stored one
CALLBACK_QUERY = OpenApiParameter(
    "callback_url", str, OpenApiParameter.QUERY, required=False,
    description="with `Prefer: respond-async`: an http(s) URL the run's answer is POSTed "
                "to when it ends (signed: X-Thaiyyal-Signature); ignored for a run in the "
                "request")
LOCATION = OpenApiParameter("Location", str, OpenApiParameter.HEADER, response=[202],
                            description="the queued run: /api/v1/runs/{id}")
#: the execute endpoints' parameters: the limits a request may lower, Idempotency-Key,
#: and queueing (Prefer; the 202's Location)
EXECUTE_PARAMETERS = [
    OpenApiParameter(name, str, description="lower this limit for this run (never raises it)")
    for name in ("max_execution_time", "max_node_executions", "max_http_calls",
                 "max_loop_iterations")
] + [idem.PARAMETER, PREFER, LOCATION]


def visible_to(user: Any, queryset: QuerySet, owner_field: str) -> QuerySet:
    """Staff see everything; everyone else only what is theirs (the schema generator's
    anonymous request: nothing)."""
    if user.is_staff:
        return queryset
    if not user.is_authenticated:
        return queryset.none()
    return queryset.filter(**{owner_field: user})


def runs_visible_to(user: Any, queryset: QuerySet[Run]) -> QuerySet[Run]:
    """Runs a user may see: staff every run; anyone else the runs they started, and every
    run of their own workflows, whoever started it (a staff user running it, say): the
    owner sees what was done with their workflow (docs/security.md, "Who sees what").
    The subquery (not a join) lets PostgreSQL combine the two (user, started) and
    (workflow, started) indexes."""
    if user.is_staff:
        return queryset
    if not user.is_authenticated:
        return queryset.none()
    own_workflows = Workflow.all_objects.filter(owner=user).values("pk")
    return queryset.filter(Q(requested_by=user) | Q(workflow__in=own_workflows))


def object_body(request: Request, allowed: set[str]) -> dict[str, Any]:
    """The JSON body as an object with only `allowed` keys (an empty body is {})."""
    data = request.data
    if not isinstance(data, dict):
        raise ValidationError({"non_field_errors": ["the body must be a JSON object"]})
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ValidationError({key: ["unknown field"] for key in unknown})
    return data


class ExecuteView(APIView):
    """Run a workflow payload sent in the body (not stored; the run is recorded)."""

    throttle_classes = EXECUTE_THROTTLES
    throttle_scope = "execute"

    @extend_schema(request=OpenApiTypes.OBJECT, responses=EXECUTE_RESPONSES,
                   parameters=[*EXECUTE_PARAMETERS, CALLBACK_QUERY],
                   operation_id="workflow_execute")
    @idem.idempotent
    @capped
    def post(self, request: Request) -> HttpResponse:
        raw = request.body  # read first: hashed to find the loaded workflow in the cache
        if asynchronous.prefers_async(request):
            return asynchronous.enqueue_payload(request, raw, query_limits(request))
        execution = services.execute_payload(request.data, raw=raw, user=request.user,
                                             limits=query_limits(request),
                                             run_id=idem.planned_run_id(request),
                                             answer=encoded_execution)
        return execution.answer


class ValidateView(APIView):
    """Check a payload as execute would (shape, types, expressions, cycles, limits)
    without running it."""

    # Nothing here reads or writes the database: with it down, a token this worker
    # verified recently still opens validate (workflows/api/authentication.py).
    works_without_database = True

    @extend_schema(request=OpenApiTypes.OBJECT,
                   responses={200: s.ValidationResponseSerializer, **ERRORS},
                   operation_id="workflow_validate")
    def post(self, request: Request) -> Response:
        try:
            workflow = services.validate_definition(request.data)
        except PayloadError as exc:
            return Response(error_body("invalid workflow", exc.to_list(), valid=False),
                            status=status.HTTP_400_BAD_REQUEST)
        return Response({"success": True, "valid": True, "node_count": workflow.node_count})


class NodeTypesView(APIView):
    """Every node type the engine knows: its `data` fields (kind, required, default,
    choices, aliases), its output handles and its palette group. The visual editor builds
    its palette and forms from this."""

    @extend_schema(responses={200: OpenApiTypes.OBJECT}, operation_id="node_types")
    def get(self, request: Request) -> Response:
        return Response(describe_node_types())


class WorkflowPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


class RunPagination(CursorPagination):
    """Newest first. A cursor page costs one query whatever the table size (no COUNT)."""

    ordering = "-started_at"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


class WorkflowViewSet(viewsets.ModelViewSet):
    """Stored workflows. Every change of definition is a new version; old versions stay
    and can still be run."""

    pagination_class = WorkflowPagination
    serializer_class = s.WorkflowSerializer
    #: set to "execute" by the execute actions (ScopedRateThrottle reads it)
    throttle_scope: str | None = None

    def get_queryset(self) -> QuerySet[Workflow]:
        queryset = Workflow.objects.select_related("owner", "current_version")
        return visible_to(self.request.user, queryset, "owner")

    def get_serializer_class(self) -> type[serializers.BaseSerializer]:
        if self.action in {"create", "update", "partial_update"}:
            return s.WorkflowWriteSerializer
        return s.WorkflowSerializer

    @extend_schema(request=s.WorkflowWriteSerializer,
                   responses={201: s.WorkflowSerializer, **ERRORS})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = self._valid(request, partial=False)
        try:
            workflow = services.create_workflow(owner=request.user, name=data["name"],
                                                description=data.get("description", ""),
                                                definition=data["definition"],
                                                execution_mode=data.get("execution_mode"))
        except PayloadError as exc:
            raise InvalidWorkflow(prefixed(exc, "$.definition")) from None
        return Response(self._read(workflow), status=status.HTTP_201_CREATED)

    @extend_schema(request=s.WorkflowWriteSerializer,
                   responses={200: s.WorkflowSerializer, **ERRORS})
    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        workflow = self.get_object()
        data = self._valid(request, partial=kwargs.get("partial", False))
        try:
            services.update_workflow(workflow, user=request.user, name=data.get("name"),
                                     description=data.get("description"),
                                     definition=data.get("definition"),
                                     execution_mode=data.get("execution_mode"))
        except PayloadError as exc:
            raise InvalidWorkflow(prefixed(exc, "$.definition")) from None
        return Response(self._read(workflow))

    def perform_destroy(self, instance: Workflow) -> None:
        # Soft deletion: runs of it (finished or in flight) keep their version.
        services.delete_workflow(instance)

    def _valid(self, request: Request, partial: bool) -> dict[str, Any]:
        object_body(request, {"name", "description", "definition", "execution_mode"})
        serializer = s.WorkflowWriteSerializer(data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    def _read(self, workflow: Workflow) -> dict[str, Any]:
        fresh = self.get_queryset().get(pk=workflow.pk)
        return s.WorkflowSerializer(fresh).data

    @extend_schema(request=s.ExecuteStoredSerializer, responses=EXECUTE_RESPONSES,
                   parameters=EXECUTE_PARAMETERS)
    @action(detail=True, methods=["post"], throttle_classes=EXECUTE_THROTTLES,
            throttle_scope="execute")
    @idem.idempotent
    @capped
    def execute(self, request: Request, pk: str | None = None) -> HttpResponse:
        """Run the current version. `inputs` override the workflow's context variables by
        name; an unknown name or a value of the wrong type is a 400."""
        return run_current_version(request, pk)

    @extend_schema(responses={200: s.VersionSerializer(many=True), **ERRORS})
    @action(detail=True, methods=["get"])
    def versions(self, request: Request, pk: str | None = None) -> Response:
        """Every saved version, newest first."""
        workflow = self.get_object()
        versions = workflow.versions.select_related("created_by").order_by("-number")
        page = self.paginate_queryset(versions)
        return self.get_paginated_response(s.VersionSerializer(page, many=True).data)

    @extend_schema(responses={200: s.VersionDetailSerializer, **ERRORS})
    @action(detail=True, methods=["get"], url_path=r"versions/(?P<number>\d+)")
    def version(self, request: Request, pk: str | None = None,
                number: str | None = None) -> Response:
        """One version with its definition."""
        version = self._version(number)
        return Response(s.VersionDetailSerializer(version).data)

    @extend_schema(request=s.ExecuteStoredSerializer, responses=EXECUTE_RESPONSES,
                   parameters=EXECUTE_PARAMETERS)
    @action(detail=True, methods=["post"], url_path=r"versions/(?P<number>\d+)/execute",
            throttle_classes=EXECUTE_THROTTLES, throttle_scope="execute")
    @idem.idempotent
    @capped
    def execute_version(self, request: Request, pk: str | None = None,
                        number: str | None = None) -> HttpResponse:
        """Run an earlier (or the current) version."""
        version = self._version(number)
        return run_version(request, version, version.workflow)

    def _version(self, number: str | None) -> WorkflowVersion:
        workflow = self.get_object()
        return get_object_or_404(workflow.versions.select_related("created_by", "workflow"),
                                 number=number)


def run_current_version(request: Request, pk: Any) -> HttpResponse:
    """Run the current version of a workflow the user may see (404 otherwise)."""
    try:
        workflow, version = services.workflow_to_run(pk, request.user)
    except Workflow.DoesNotExist:
        raise NotFound() from None
    if version is None:
        raise ValidationError({"non_field_errors": ["the workflow has no version to run"]})
    return run_version(request, version, workflow)


def run_version(request: Request, version: WorkflowVersion, workflow: Workflow) -> HttpResponse:
    body = object_body(request, {"inputs", "callback_url"})
    inputs = body.get("inputs") or {}
    if not isinstance(inputs, dict):
        raise ValidationError({"inputs": ["must be an object: {name: value}"]})
    limits = query_limits(request)
    queued = asynchronous.runs_queued(request, workflow.execution_mode, limits)
    url = asynchronous.callback_url(body.get("callback_url"), "callback_url", queued)
    if queued:
        return asynchronous.enqueue_version(request, version, inputs or None, limits, url)
    answer = functools.partial(encoded_execution, workflow_id=workflow.pk,
                               workflow_name=workflow.name, version=version.number)
    execution = services.execute_version(version, user=request.user, inputs=inputs or None,
                                         limits=limits, answer=answer,
                                         run_id=idem.planned_run_id(request))
    return execution.answer


class RunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin,
                 viewsets.GenericViewSet):
    """Run history, newest first. Deleting a run is for staff only."""

    pagination_class = RunPagination
    serializer_class = s.RunSerializer
    lookup_value_regex = "[0-9a-fA-F-]{32,36}"

    def get_queryset(self) -> QuerySet[Run]:
        # The workflow and version come in the same query (deleted workflows too: a run
        # keeps showing what it ran). The list shows the version's number only: never
        # decode its definition there; the detail shows it.
        queryset = Run.objects.select_related("workflow", "version", "requested_by").defer(
            "workflow__description")
        queryset = runs_visible_to(self.request.user, queryset)
        if self.action == "list":
            queryset = self._filtered(queryset).defer("final_output", "limits", "inputs",
                                                      "version__definition")
        return queryset

    def get_serializer_class(self) -> type[serializers.BaseSerializer]:
        return s.RunDetailSerializer if self.action == "retrieve" else s.RunSerializer

    def _filtered(self, queryset: QuerySet[Run]) -> QuerySet[Run]:
        params = s.RunFilterSerializer(data=self.request.query_params)
        if not params.is_valid():
            raise ValidationError({"query": params.errors})
        f = params.validated_data
        if "workflow" in f:
            queryset = queryset.filter(workflow_id=f["workflow"])
        if "status" in f:
            queryset = queryset.filter(status=f["status"])
        if "trigger" in f:
            queryset = queryset.filter(trigger=f["trigger"])
        if "min_duration_ms" in f:
            queryset = queryset.filter(duration_ms__gte=f["min_duration_ms"])
        if "started_after" in f:
            queryset = queryset.filter(started_at__gte=f["started_after"])
        if "started_before" in f:
            queryset = queryset.filter(started_at__lt=f["started_before"])
        return queryset

    @extend_schema(parameters=[s.RunFilterSerializer])
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Runs, newest first, one cursor page at a time (`next` / `previous` links).
        Filters: workflow, status, trigger, min_duration_ms, started_after,
        started_before."""
        return super().list(request, *args, **kwargs)

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """One run with its node runs, in the order they started."""
        run = self.get_object()
        return Response(s.RunDetailSerializer(run).data)

    @extend_schema(request=None, responses={200: s.RunDetailSerializer,
                                            202: s.RunDetailSerializer,
                                            409: s.ErrorSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Stop a queued or running run. A queued run is `cancelled` at once; a running one
        is stopped by the process running it (within about a second for a run waiting on
        I/O): 200 with the run once it is `cancelled`, or 202 while it is still stopping.
        409 if the run had already ended."""
        run = self.get_object()
        if run.status in queueing.ENDED:
            return Response(error_body(f"the run has already ended ({run.status})",
                                       status=run.status), status=status.HTTP_409_CONFLICT)
        if queueing.request_cancel(run.pk).status == RunStatus.CANCELLED:
            queueing.run_ended(run.pk)  # cancelled before a worker took it: none will
        run = queueing.wait_for_end(run.pk, CANCEL_WAIT_SECONDS)
        code = status.HTTP_200_OK if run.status in queueing.ENDED else status.HTTP_202_ACCEPTED
        return Response(s.RunDetailSerializer(self.get_queryset().get(pk=run.pk)).data,
                        status=code)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        run = self.get_object()
        if not request.user.is_staff:
            raise PermissionDenied("only staff may delete run history")
        run.delete()
        return Response(status=status.HTTP_204_NO_CONTENT)

