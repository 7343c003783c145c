"""Admin: manage workflows (JSON editor checked on save, version history, execute) and
review runs (read-only, filters, node runs in the order they started)."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import F, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.functional import cached_property
from django.utils.html import format_html

from engine import PayloadError
from workflows import services
from workflows.forms import ExecuteForm, WorkflowAdminForm
from workflows.models import IdempotencyKey, NodeRun, Run, Workflow, WorkflowVersion


class VersionInline(admin.TabularInline):
    model = WorkflowVersion
    fk_name = "workflow"
    fields = ["number", "created_by", "created_at", "checksum_short", "run_link"]
    readonly_fields = fields
    ordering = ["-number"]
    extra = 0
    can_delete = False
    show_change_link = False
    verbose_name_plural = "version history"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[WorkflowVersion]:
        return super().get_queryset(request).select_related("created_by").defer("definition")

    @admin.display(description="checksum")
    def checksum_short(self, version: WorkflowVersion) -> str:
        return version.checksum[:12]

    @admin.display(description="")
    def run_link(self, version: WorkflowVersion) -> str:
        view = reverse("admin:workflows_workflow_version",
                       args=[version.workflow_id, version.number])
        execute = reverse("admin:workflows_workflow_execute", args=[version.workflow_id])
        return format_html('<a href="{}">definition</a> · <a href="{}?version={}">execute this '
                           'version</a>', view, execute, version.number)


@admin.register(Workflow)
class WorkflowAdmin(admin.ModelAdmin):
    form = WorkflowAdminForm
    list_display = ["name", "owner", "version_number", "updated_at", "runs_link"]
    list_select_related = ["owner", "current_version"]
    search_fields = ["name", "slug", "description"]
    list_filter = ["owner"]
    autocomplete_fields = ["owner"]
    inlines = [VersionInline]
    actions = ["execute_selected"]
    fields = ["name", "description", "owner", "definition"]

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        return {"owner": request.user.pk, **super().get_changeform_initial_data(request)}

    @admin.display(description="version", ordering="current_version__number")
    def version_number(self, workflow: Workflow) -> Any:
        return workflow.current_version.number if workflow.current_version else None

    @admin.display(description="runs")
    def runs_link(self, workflow: Workflow) -> str:
        url = reverse("admin:workflows_run_changelist")
        return format_html('<a href="{}?workflow__id__exact={}">history</a>', url, workflow.pk)

    def save_model(self, request: HttpRequest, obj: Workflow, form: Any, change: bool) -> None:
        # The definition becomes a new version (when it changed); services does that.
        if not change:
            obj.slug = services.free_slug(obj.owner, obj.name)
            obj.save()
        services.update_workflow(obj, user=request.user,
                                 definition=form.cleaned_data["definition"])

    # Deleting follows services.delete_workflow (soft deletion): the workflow leaves the
    # admin and the API, its versions stay for the runs that ran them. The confirmation
    # page lists only the workflows: nothing else is deleted.
    def delete_model(self, request: HttpRequest, obj: Workflow) -> None:
        services.delete_workflow(obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Workflow]) -> None:
        for workflow in queryset:
            services.delete_workflow(workflow)

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> tuple[Any, ...]:
        workflows = list(objs)
        return ([str(w) for w in workflows],
                {Workflow._meta.verbose_name_plural: len(workflows)}, set(), [])

    def get_urls(self) -> list[Any]:
        custom = [
            path("<int:pk>/execute/", self.admin_site.admin_view(self.execute_view),
                 name="workflows_workflow_execute"),
            path("<int:pk>/versions/<int:number>/",
                 self.admin_site.admin_view(self.version_view), name="workflows_workflow_version"),
        ]
        return custom + super().get_urls()

    def version_view(self, request: HttpRequest, pk: int, number: int) -> HttpResponse:
        """One saved version's definition, read-only."""
        workflow = get_object_or_404(self.get_queryset(request), pk=pk)
        if not self.has_view_or_change_permission(request, workflow):
            raise PermissionDenied
        version = get_object_or_404(workflow.versions.select_related("created_by"),
                                    number=number)
        context = {**self.admin_site.each_context(request), "opts": self.model._meta,
                   "title": f"{workflow.name}: version {number}", "workflow": workflow,
                   "version": version,
                   "definition": json.dumps(version.definition, indent=2, ensure_ascii=False)}
        return TemplateResponse(request, "admin/workflows/workflow/version.html", context)

    def execute_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Run a version of this workflow and show the result."""
        workflow = get_object_or_404(self.get_queryset(request), pk=pk)
        if not self.has_view_or_change_permission(request, workflow):
            raise PermissionDenied
        form = ExecuteForm(workflow, request.POST or None,
                           initial={"version": request.GET.get("version")}
                           if request.GET.get("version") else None)
        outcome = None
        if request.method == "POST" and form.is_valid():
            version = workflow.versions.get(number=form.cleaned_data["version"])
            outcome = _execute(request, version, form.cleaned_data["inputs"] or None, form)
        context = {**self.admin_site.each_context(request), "opts": self.model._meta,
                   "title": f"Execute {workflow.name}", "workflow": workflow, "form": form,
                   "outcome": outcome}
        return TemplateResponse(request, "admin/workflows/workflow/execute.html", context)

    @admin.action(description="Execute the current version of the selected workflows")
    def execute_selected(self, request: HttpRequest, queryset: QuerySet[Workflow]) -> Any:
        outcomes = []
        for workflow in queryset.select_related("current_version"):
            if workflow.current_version is None:
                messages.warning(request, f"{workflow.name} has no version to run")
                continue
            outcomes.append(_execute(request, workflow.current_version, None, None))
        context = {**self.admin_site.each_context(request), "opts": self.model._meta,
                   "title": "Execution results", "outcomes": outcomes}
        return TemplateResponse(request, "admin/workflows/workflow/execute_results.html",
                                context)


def _execute(request: HttpRequest, version: WorkflowVersion, inputs: dict[str, Any] | None,
             form: ExecuteForm | None) -> dict[str, Any] | None:
    try:
        execution = services.execute_version(version, user=request.user, inputs=inputs)
    except PayloadError as exc:
        if form is not None:
            form.add_error("inputs", [f"{p.path}: {p.message}" for p in exc.problems])
        else:
            messages.error(request, f"{version}: {exc}")
        return None
    result = execution.result
    nodes = sorted(result.nodes, key=lambda n: (n.started_ms is None, n.started_ms or 0))
    return {"version": version, "result": result, "run_id": execution.run_id, "nodes": nodes,
            "final_output": json.dumps(result.final_output, indent=2, ensure_ascii=False,
                                       default=str)}


class SlowRunFilter(admin.SimpleListFilter):
    title = "duration"
    parameter_name = "slow"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        slow = settings.THAIYYAL_SLOW_RUN_MS
        return [("slow", f"slow (≥ {slow} ms)"), ("very", f"very slow (≥ {slow * 10} ms)")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Run]) -> QuerySet[Run]:
        factor = {"slow": 1, "very": 10}.get(self.value() or "")
        if factor is None:
            return queryset
        return queryset.filter(duration_ms__gte=settings.THAIYYAL_SLOW_RUN_MS * factor)


class NodeRunInline(admin.TabularInline):
    model = NodeRun
    fields = ["node_id", "node_type", "status", "started_offset_ms", "duration_ms", "timeline",
              "attempts", "error", "output_preview"]
    readonly_fields = fields
    # In the order they started; nodes that never ran (skipped) last, on every database.
    ordering = [F("started_offset_ms").asc(nulls_last=True), "id"]
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="timeline")
    def timeline(self, node_run: NodeRun) -> str:
        """Where the node ran within the run, as a bar (the inline's parent run is already
        loaded: no query per row)."""
        total = node_run.run.duration_ms or 0
        if not total or node_run.started_offset_ms is None or node_run.duration_ms is None:
            return ""
        left = min(100.0, 100 * node_run.started_offset_ms / total)
        width = min(100.0 - left, 100 * node_run.duration_ms / total)
        return format_html(
            '<div style="position:relative;width:240px;height:10px;background:#eee">'
            '<div style="position:absolute;left:{}%;width:{}%;min-width:2px;height:10px;'
            'background:#417690"></div></div>', f"{left:.2f}", f"{width:.2f}")

    @admin.display(description="output")
    def output_preview(self, node_run: NodeRun) -> str:
        text = json.dumps(node_run.output, ensure_ascii=False) if node_run.output is not None \
            else ""
        cut = text if len(text) <= 200 else text[:200] + "…"
        return cut + (" (truncated when stored)" if node_run.output_truncated else "")


class CappedCountPaginator(Paginator):
    """Counts at most THAIYYAL_ADMIN_RUN_COUNT_CAP rows: an exact COUNT(*) over millions of
    runs on every page load would be the slowest thing in the admin. Filters reach older
    runs."""

    @cached_property
    def count(self) -> int:
        return self.object_list[:settings.THAIYYAL_ADMIN_RUN_COUNT_CAP].count()


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    list_display = ["id", "workflow", "version_number", "status", "started_at", "duration_ms",
                    "node_count", "requested_by"]
    list_select_related = ["workflow", "version", "requested_by"]
    # Filters that cost no scan of the history (no DISTINCT over runs, no date hierarchy).
    list_filter = ["status", "workflow", SlowRunFilter, "started_at"]
    search_fields = ["execution_id"]
    inlines = [NodeRunInline]
    paginator = CappedCountPaginator
    show_full_result_count = False
    readonly_fields = ["id", "workflow", "version", "status", "started_at", "finished_at",
                       "duration_ms", "requested_by", "final_output_json", "error_json",
                       "inputs_json", "limits_json", "execution_id", "node_count",
                       "worker_host", "worker_pid"]
    fieldsets = [
        (None, {"fields": ["id", "workflow", "version", "status", "started_at", "finished_at",
                           "duration_ms", "requested_by"]}),
        ("Result", {"fields": ["final_output_json", "error_json", "inputs_json"]}),
        ("Details", {"classes": ["collapse"],
                     "fields": ["limits_json", "execution_id", "node_count", "worker_host",
                                "worker_pid"]}),
    ]
    show_facets = admin.ShowFacets.NEVER  # facet counts would scan the history

    @admin.display(description="final output")
    def final_output_json(self, run: Run) -> str:
        return _pretty(run.final_output)

    @admin.display(description="error")
    def error_json(self, run: Run) -> str:
        return _pretty(run.error) if run.error else "-"

    @admin.display(description="inputs")
    def inputs_json(self, run: Run) -> str:
        return _pretty(run.inputs) if run.inputs else "-"

    @admin.display(description="limits")
    def limits_json(self, run: Run) -> str:
        return _pretty(run.limits)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Run]:
        # The joined version is shown by number: never decode its definition. The list
        # shows no outputs either.
        queryset = super().get_queryset(request).defer("version__definition")
        match = request.resolver_match
        if match is not None and match.url_name == "workflows_run_changelist":
            queryset = queryset.defer("final_output", "limits", "inputs")
        return queryset

    @admin.display(description="version", ordering="version__number")
    def version_number(self, run: Run) -> Any:
        return run.version.number if run.version else "ad-hoc"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(IdempotencyKey)
class IdempotencyKeyAdmin(admin.ModelAdmin):
    """Read-only: which keys were used, by whom, for which run, with what answer (they
    are written by the execute endpoints and deleted by prune_runs after 24 hours)."""

    list_display = ["key", "user", "created_at", "response_status", "run_id"]
    list_select_related = ["user"]
    search_fields = ["key", "=run_id"]
    readonly_fields = ["key", "user", "created_at", "request_hash", "run_id",
                       "response_status", "response_body"]
    show_facets = admin.ShowFacets.NEVER

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _pretty(value: Any) -> str:
    return format_html('<pre style="margin:0;white-space:pre-wrap">{}</pre>',
                       json.dumps(value, indent=2, ensure_ascii=False))


admin.site.site_header = "Thaiyyal administration"
admin.site.site_title = "Thaiyyal"
