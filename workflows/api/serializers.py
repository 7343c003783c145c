"""Request and response shapes of the REST API. Bodies are translated here; the work is
done in workflows.services."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from workflows.models import (
    ExecutionMode,
    NodeRun,
    Run,
    RunStatus,
    Trigger,
    Workflow,
    WorkflowVersion,
)


@extend_schema_field(OpenApiTypes.OBJECT)
class DefinitionField(serializers.JSONField):
    """A workflow payload: {"nodes": [...], "edges": [...]} (checked by the engine)."""


class WorkflowSerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.get_username", read_only=True)
    version = serializers.IntegerField(source="current_version.number", read_only=True,
                                       allow_null=True)
    definition = DefinitionField(source="current_version.definition", read_only=True)

    class Meta:
        model = Workflow
        fields = ["id", "name", "slug", "description", "owner", "version", "definition",
                  "execution_mode", "created_at", "updated_at"]
        read_only_fields = fields


class WorkflowWriteSerializer(serializers.Serializer):
    """Create (name and definition required) or update (any of them); a changed
    definition becomes a new version."""

    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    definition = DefinitionField()
    execution_mode = serializers.ChoiceField(
        choices=ExecutionMode.choices, required=False,
        help_text="sync: runs execute in the request (unless it asks `Prefer: "
                  "respond-async`); async: always queued; auto: queued when the run's time "
                  "limit exceeds the web tier's")

    def validate_definition(self, value: Any) -> Any:
        if not isinstance(value, dict):
            raise serializers.ValidationError("must be an object with nodes and edges")
        return value


class VersionSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.get_username", read_only=True,
                                       allow_null=True, default=None)

    class Meta:
        model = WorkflowVersion
        fields = ["number", "checksum", "created_by", "created_at"]
        read_only_fields = fields


class VersionDetailSerializer(VersionSerializer):
    definition = DefinitionField(read_only=True)

    class Meta(VersionSerializer.Meta):
        fields = [*VersionSerializer.Meta.fields, "definition"]
        read_only_fields = fields


class ExecuteStoredSerializer(serializers.Serializer):
    inputs = serializers.DictField(
        child=serializers.JSONField(), required=False, default=dict,
        help_text="Values for the workflow's context variables, by name "
                  "(read as context.<name> in expressions).")
    # Text, not a URI format: "" (no callback) is accepted too.
    callback_url = serializers.CharField(
        required=False, allow_blank=True,
        help_text="A queued run only (`Prefer: respond-async`, or an async execution_mode): "
                  "an http(s) URL its answer is POSTed to when it ends (signed: "
                  "X-Thaiyyal-Signature). 400 for a run in the request.")


class NodeRunSerializer(serializers.ModelSerializer):
    output = serializers.JSONField(read_only=True)

    class Meta:
        model = NodeRun
        fields = ["node_id", "node_type", "status", "started_offset_ms", "duration_ms",
                  "attempts", "output", "output_truncated", "error"]
        read_only_fields = fields


class RunSerializer(serializers.ModelSerializer):
    workflow_name = serializers.CharField(source="workflow.name", read_only=True,
                                          allow_null=True, default=None)
    version = serializers.IntegerField(source="version.number", read_only=True,
                                       allow_null=True, default=None)
    requested_by = serializers.CharField(source="requested_by.get_username", read_only=True,
                                         allow_null=True, default=None)
    error = serializers.JSONField(read_only=True)

    class Meta:
        model = Run
        fields = ["id", "workflow", "workflow_name", "version", "status", "started_at",
                  "finished_at", "duration_ms", "node_count", "requested_by", "trigger",
                  "error"]
        read_only_fields = fields


class RunDetailSerializer(RunSerializer):
    definition = DefinitionField(source="version.definition", read_only=True, allow_null=True,
                                 default=None,
                                 help_text="the version's definition (null for ad-hoc runs)")
    workflow_deleted = serializers.SerializerMethodField()
    final_output = serializers.JSONField(read_only=True)
    limits = serializers.JSONField(read_only=True)
    inputs = serializers.JSONField(read_only=True)
    node_runs = NodeRunSerializer(many=True, read_only=True)
    # "" when the run has none: a URL field would promise a URI there (schemathesis
    # found the answer breaking the schema)
    callback_url = serializers.CharField(read_only=True, help_text="the URL told when the "
                                         "run ends (queue mode), or \"\" for none")

    class Meta(RunSerializer.Meta):
        fields = [*RunSerializer.Meta.fields, "workflow_deleted", "definition",
                  "execution_id", "final_output", "limits", "inputs", "worker_host",
                  "worker_pid", "queued_at", "cancel_requested_at", "callback_url",
                  "callback_state", "callback_attempts", "callback_error", "callback_at",
                  "node_runs"]
        read_only_fields = fields

    def get_workflow_deleted(self, run: Run) -> bool:
        """True when the run's workflow has been deleted since (the run keeps its version)."""
        return run.workflow is not None and run.workflow.deleted_at is not None


class RunFilterSerializer(serializers.Serializer):
    """The run list's query parameters."""

    workflow = serializers.IntegerField(required=False, min_value=1)
    status = serializers.ChoiceField(choices=RunStatus.choices, required=False)
    trigger = serializers.ChoiceField(choices=Trigger.choices, required=False,
                                      help_text="how the run was started")
    min_duration_ms = serializers.FloatField(required=False, min_value=0)
    started_after = serializers.DateTimeField(required=False)
    started_before = serializers.DateTimeField(required=False)


class NodeOutcomeSerializer(serializers.Serializer):
    id = serializers.CharField()
    type = serializers.CharField()
    status = serializers.CharField()
    started_ms = serializers.FloatField(allow_null=True)
    duration_ms = serializers.FloatField(allow_null=True)
    error = serializers.CharField(allow_null=True)
    attempts = serializers.IntegerField()


class ProblemSerializer(serializers.Serializer):
    path = serializers.CharField()
    message = serializers.CharField()


class ExecutionResponseSerializer(serializers.Serializer):
    """Documentation of the execute endpoints' answer (200, and 422 when the run failed)."""

    success = serializers.BooleanField()
    run_id = serializers.UUIDField(allow_null=True)
    status = serializers.ChoiceField(choices=["succeeded", "failed"])
    execution_time_ms = serializers.FloatField()
    results = serializers.DictField(help_text="execution_id, node_results, final_output, "
                                              "errors and error when the run failed")
    nodes = NodeOutcomeSerializer(many=True)
    error = serializers.CharField(required=False)
    failed_node = serializers.CharField(required=False, allow_null=True)
    details = ProblemSerializer(many=True, required=False)


class ErrorSerializer(serializers.Serializer):
    success = serializers.BooleanField(default=False)
    error = serializers.CharField()
    details = ProblemSerializer(many=True)


class ValidationResponseSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    valid = serializers.BooleanField()
    node_count = serializers.IntegerField()
