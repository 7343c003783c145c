"""Thaiyyal's own workflow paths and shapes, so its editor and scripts keep working:
`/api/v1/workflow/save`, `list`, `load/{id}`, `delete/{id}`, `execute/{id}`.

Ids are strings in Thaiyyal's answers; here they are the stored workflow's id as a string.
Errors keep the API's JSON shape ({"success": false, "error", "details"}).
"""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.decorators import api_view
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from engine import PayloadError
from workflows import services
from workflows.api.errors import InvalidWorkflow, prefixed
from workflows.api.idempotent import idempotent
from workflows.api.inflight import capped
from workflows.api.views import (
    ERRORS,
    EXECUTE_PARAMETERS,
    EXECUTE_RESPONSES,
    EXECUTE_THROTTLES,
    run_current_version,
)
from workflows.models import Workflow

TAG = ["thaiyyal-compatible"]

SaveRequest = inline_serializer("ThaiyyalSaveRequest", {
    "id": serializers.CharField(required=False,
                                help_text="an existing workflow's id: save a new version"),
    "name": serializers.CharField(),
    "description": serializers.CharField(required=False),
    "data": serializers.JSONField(help_text="the workflow payload (nodes, edges)"),
})
SaveResponse = inline_serializer("ThaiyyalSaveResponse", {
    "success": serializers.BooleanField(), "id": serializers.CharField(),
    "message": serializers.CharField()})
ListResponse = inline_serializer("ThaiyyalListResponse", {
    "success": serializers.BooleanField(),
    "workflows": inline_serializer("ThaiyyalWorkflowSummary", {
        "id": serializers.CharField(), "name": serializers.CharField(),
        "description": serializers.CharField(), "created_at": serializers.DateTimeField(),
        "updated_at": serializers.DateTimeField()}, many=True),
    "count": serializers.IntegerField()})
LoadResponse = inline_serializer("ThaiyyalLoadResponse", {
    "success": serializers.BooleanField(), "workflow": serializers.DictField()})
DeleteResponse = inline_serializer("ThaiyyalDeleteResponse", {
    "success": serializers.BooleanField(), "message": serializers.CharField()})


def _owned(request: Request, pk: int) -> Workflow:
    queryset = Workflow.objects.select_related("current_version")
    if not request.user.is_staff:
        queryset = queryset.filter(owner=request.user)
    return get_object_or_404(queryset, pk=pk)


def _summary(workflow: Workflow) -> dict[str, Any]:
    return {"id": str(workflow.pk), "name": workflow.name, "description": workflow.description,
            "created_at": workflow.created_at, "updated_at": workflow.updated_at}


@extend_schema(tags=TAG, request=SaveRequest, responses={201: SaveResponse, **ERRORS},
               operation_id="thaiyyal_workflow_save")
@api_view(["POST"])
def save(request: Request) -> Response:
    """Save a workflow: a new one, or (with `id`) a new version of an existing one."""
    data = request.data
    if not isinstance(data, dict):
        raise ValidationError({"non_field_errors": ["the body must be a JSON object"]})
    problems: dict[str, list[str]] = {}
    for field, required in (("name", True), ("description", False)):
        message = _text_problem(data.get(field), required)
        if message:
            problems[field] = [message]
    if not isinstance(data.get("data"), dict):
        problems["data"] = ["required: the workflow payload object"]
    workflow_id = _int_id(data["id"], problems) if data.get("id") is not None else None
    if problems:
        raise ValidationError(problems)
    try:
        if workflow_id is not None:
            workflow = _owned(request, workflow_id)
            services.update_workflow(workflow, user=request.user, name=data["name"],
                                     description=data.get("description"),
                                     definition=data["data"])
        else:
            workflow = services.create_workflow(owner=request.user, name=data["name"],
                                                description=data.get("description") or "",
                                                definition=data["data"])
    except PayloadError as exc:
        raise InvalidWorkflow(prefixed(exc, "$.data")) from None
    return Response({"success": True, "id": str(workflow.pk),
                     "message": "Workflow saved successfully"}, status=status.HTTP_201_CREATED)


#: the largest id a workflow can have (PostgreSQL bigint)
MAX_ID = 2**63 - 1


def _int_id(value: Any, problems: dict[str, list[str]]) -> int | None:
    """A workflow id: a positive integer, or a string of digits (Thaiyyal's ids are
    strings). `true` is not 1 and `1.5` is not 1: anything else is a problem of `id`."""
    if isinstance(value, str) and value.isascii() and value.isdigit():
        number = int(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        problems["id"] = ["must be a workflow id: a positive integer or a string of digits"]
        return None
    if not 1 <= number <= MAX_ID:
        problems["id"] = [f"must be a workflow id between 1 and {MAX_ID}"]
        return None
    return number


def _text_problem(value: Any, required: bool) -> str | None:
    """What is wrong with a name or description (None: nothing). NUL characters cannot be
    stored in PostgreSQL text, so they are refused here, as the native endpoint does."""
    if value is None:
        return "required: a non-empty string" if required else None
    if not isinstance(value, str):
        return "must be a string"
    if required and not value.strip():
        return "required: a non-empty string"
    if "\x00" in value:
        return "must not contain NUL characters (\\x00)"
    if required and len(value) > 200:
        return "at most 200 characters"
    return None


@extend_schema(tags=TAG, responses={200: ListResponse, **ERRORS},
               operation_id="thaiyyal_workflow_list")
@api_view(["GET"])
def list_workflows(request: Request) -> Response:
    """Every workflow you can see, without definitions."""
    queryset = Workflow.objects.order_by("-updated_at")
    if not request.user.is_staff:
        queryset = queryset.filter(owner=request.user)
    workflows = [_summary(w) for w in queryset.only(
        "id", "name", "description", "created_at", "updated_at")]
    return Response({"success": True, "workflows": workflows, "count": len(workflows)})


@extend_schema(tags=TAG, responses={200: LoadResponse, **ERRORS},
               operation_id="thaiyyal_workflow_load")
@api_view(["GET"])
def load(request: Request, pk: int) -> Response:
    """A workflow with its current definition as `data`."""
    workflow = _owned(request, pk)
    definition = workflow.current_version.definition if workflow.current_version else None
    return Response({"success": True, "workflow": {**_summary(workflow), "data": definition}})


@extend_schema(tags=TAG, responses={200: DeleteResponse, **ERRORS},
               operation_id="thaiyyal_workflow_delete")
@api_view(["DELETE"])
def delete(request: Request, pk: int) -> Response:
    """Delete a workflow: it can no longer be listed, loaded or run; its runs stay in the
    history with the version they ran."""
    services.delete_workflow(_owned(request, pk))
    return Response({"success": True, "message": "Workflow deleted successfully"})


class ExecuteById(APIView):
    throttle_classes = EXECUTE_THROTTLES
    throttle_scope = "execute"

    @extend_schema(tags=TAG, request=OpenApiTypes.OBJECT, responses=EXECUTE_RESPONSES,
                   parameters=EXECUTE_PARAMETERS, operation_id="thaiyyal_workflow_execute_by_id")
    @idempotent
    @capped
    def post(self, request: Request, pk: int) -> HttpResponse:
        """Run a stored workflow's current version (body optional: {"inputs": {...}})."""
        return run_current_version(request, pk)
