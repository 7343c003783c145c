"""Admin: manage workflows (JSON editor checked on save, version history, execute) and
review runs (read-only, filters, node runs in the order they started)."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, F, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html
from django_celery_beat.admin import PeriodicTaskAdmin, PeriodicTaskForm
from django_celery_beat.models import PeriodicTask

from engine import PayloadError
from workflows import pages, queueing, services
from workflows.forms import CredentialAdminForm, ExecuteForm, WorkflowAdminForm
from workflows.models import (
    Credential,
    IdempotencyKey,
    NodeRun,
    Run,
    Trigger,
    Workflow,
    WorkflowVersion,
)
from workflows.tasks import SCHEDULED_TASK


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
    list_display = ["name", "owner", "version_number", "last_run", "run_count", "updated_at",
                    "runs_link"]
    list_select_related = ["owner", "current_version"]
    search_fields = ["name", "slug", "description"]
    list_filter = ["owner"]
    autocomplete_fields = ["owner"]
    inlines = [VersionInline]
    actions = ["execute_selected", "rotate_webhook_secrets"]
    fields = ["name", "description", "owner", "execution_mode", "definition", "webhook"]
    readonly_fields = ["webhook", "current_definition"]

    def get_fields(self, request: HttpRequest, obj: Workflow | None = None) -> list[str]:
        # `definition` is a form field, not the model's: read-only, Django shows "None" for
        # it. A user who may only view gets the current version's JSON instead.
        fields = list(super().get_fields(request, obj))
        if obj is not None and not self.has_change_permission(request, obj):
            fields = ["current_definition" if f == "definition" else f for f in fields]
        return fields

    @admin.display(description="definition")
    def current_definition(self, workflow: Workflow) -> str:
        version = workflow.current_version
        if version is None:
            return "-"
        return format_html('<pre class="tg-pre">{}</pre>',
                           json.dumps(version.definition, indent=2, ensure_ascii=False))

    @admin.display(description="webhook")
    def webhook(self, workflow: Workflow) -> str:
        if not workflow.webhook_secret:
            return "none (the action \"Rotate webhook secret\" creates one)"
        return f"POST /api/v1/hooks/{workflow.webhook_secret}"

    @admin.action(description="Rotate webhook secret (the old URL stops working)")
    def rotate_webhook_secrets(self, request: HttpRequest,
                               queryset: QuerySet[Workflow]) -> None:
        for workflow in queryset:
            services.rotate_webhook_secret(workflow)
        self.message_user(request, f"{queryset.count()} webhook secret(s) rotated: open "
                                   "a workflow to see its webhook URL")

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        return {"owner": request.user.pk, **super().get_changeform_initial_data(request)}

    @admin.display(description="version", ordering="current_version__number")
    def version_number(self, workflow: Workflow) -> Any:
        return workflow.current_version.number if workflow.current_version else None

    @admin.display(description="runs")
    def runs_link(self, workflow: Workflow) -> str:
        url = reverse("admin:workflows_run_changelist")
        return format_html('<a href="{}?workflow__id__exact={}">history</a>', url, workflow.pk)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Workflow]:
        queryset = super().get_queryset(request)
        match = request.resolver_match
        if match is None or match.url_name != "workflows_workflow_changelist":
            return queryset
        # One index probe per listed workflow each (run_workflow_started), not a join
        # over the whole history.
        runs = Run.objects.filter(workflow=OuterRef("pk")).order_by("-started_at")
        count = (Run.objects.filter(workflow=OuterRef("pk")).order_by()
                 .values("workflow").annotate(n=Count("pk")).values("n"))
        return queryset.annotate(
            last_run_status=Subquery(runs.values("status")[:1]),
            last_run_at=Subquery(runs.values("started_at")[:1]),
            last_run_id=Subquery(runs.values("pk")[:1]),
            runs_total=Coalesce(Subquery(count), 0))

    @admin.display(description="last run", ordering="last_run_at")
    def last_run(self, workflow: Workflow) -> str:
        status = getattr(workflow, "last_run_status", None)
        if status is None:
            return "never"
        url = reverse("admin:workflows_run_change", args=[workflow.last_run_id])
        return format_html('<a href="{}"><span class="status-pill status-{}">{}</span></a> {}',
                           url, status, status,
                           timezone.localtime(workflow.last_run_at).strftime(
                               "%Y-%m-%d %H:%M:%S"))

    @admin.display(description="run count", ordering="runs_total")
    def run_count(self, workflow: Workflow) -> int:
        return getattr(workflow, "runs_total", 0)

    def save_model(self, request: HttpRequest, obj: Workflow, form: Any, change: bool) -> None:
        # The definition becomes a new version (when it changed); services does that.
        if not change:
            obj.slug = services.free_slug(obj.owner, obj.name)
            obj.save()
        services.update_workflow(obj, user=request.user,
                                 definition=form.cleaned_data["definition"],
                                 execution_mode=form.cleaned_data.get("execution_mode"))

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
            path("<int:pk>/versions/", self.admin_site.admin_view(self.versions_view),
                 name="workflows_workflow_versions"),
            path("<int:pk>/versions/compare/", self.admin_site.admin_view(self.compare_view),
                 name="workflows_workflow_compare"),
        ]
        return custom + super().get_urls()

    def _workflow(self, request: HttpRequest, pk: int) -> Workflow:
        workflow = get_object_or_404(self.get_queryset(request), pk=pk)
        if not self.has_view_or_change_permission(request, workflow):
            raise PermissionDenied
        return workflow

    def _page(self, request: HttpRequest, workflow: Workflow | None, title: str,
              **extra: Any) -> dict[str, Any]:
        return {**self.admin_site.each_context(request), "opts": self.model._meta,
                "title": title, "workflow": workflow, **extra}

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict[str, Any] | None = None) -> HttpResponse:
        """Who may only view a workflow sees its current version as a graph (the editor
        is for those who may change it)."""
        extra = dict(extra_context or {})
        workflow = self.get_object(request, object_id)
        if workflow is not None and workflow.current_version is not None \
                and not self.has_change_permission(request, workflow):
            extra["graph"] = {"definition": workflow.current_version.definition}
        return super().change_view(request, object_id, form_url, extra)

    def history_view(self, request: HttpRequest, object_id: str,
                     extra_context: dict[str, Any] | None = None) -> HttpResponse:
        """A workflow's history is its versions: the change form's History button lands
        on the version list."""
        workflow = self._workflow(request, int(object_id))
        return HttpResponseRedirect(reverse("admin:workflows_workflow_versions",
                                            args=[workflow.pk]))

    def version_view(self, request: HttpRequest, pk: int, number: int) -> HttpResponse:
        """One saved version: its graph and its definition, read-only."""
        workflow = self._workflow(request, pk)
        version = get_object_or_404(workflow.versions.select_related("created_by"),
                                    number=number)
        context = self._page(
            request, workflow, f"{workflow.name}: version {number}", version=version,
            definition=json.dumps(version.definition, indent=2, ensure_ascii=False),
            graph={"definition": version.definition})
        return TemplateResponse(request, "admin/workflows/workflow/version.html", context)

    def versions_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Every version, newest first, with a form to compare any two."""
        workflow = self._workflow(request, pk)
        versions = list(workflow.versions.select_related("created_by").defer("definition")
                        .annotate(run_total=Count("runs")).order_by("-number"))
        context = self._page(request, workflow, f"{workflow.name}: versions",
                             versions=versions)
        return TemplateResponse(request, "admin/workflows/workflow/versions.html", context)

    def compare_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Two versions side by side: `?a=<older>&b=<newer>` (version numbers)."""
        workflow = self._workflow(request, pk)
        numbers = []
        for key in ("a", "b"):
            try:
                numbers.append(int(request.GET.get(key, "")))
            except ValueError:
                messages.error(request, f"choose two versions to compare ({key} is missing)")
                return HttpResponseRedirect(reverse("admin:workflows_workflow_versions",
                                                    args=[workflow.pk]))
        old, new = (get_object_or_404(workflow.versions, number=n) for n in numbers)
        context = self._page(request, workflow,
                             f"{workflow.name}: version {old.number} → {new.number}",
                             old=old, new=new, comparison=pages.compare_versions(old, new))
        return TemplateResponse(request, "admin/workflows/workflow/compare.html", context)

    def execute_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Run a version of this workflow and show the result."""
        workflow = self._workflow(request, pk)
        chosen = _version_for(workflow, request.POST.get("version") or request.GET.get("version"))
        variables = pages.context_variables(chosen) if chosen is not None else []
        initial = {"inputs": {v["name"]: v["default"] for v in variables}}
        if chosen is not None:
            initial["version"] = chosen.number
        form = ExecuteForm(workflow, request.POST or None, initial=initial)
        outcome = None
        if request.method == "POST" and form.is_valid():
            version = workflow.versions.get(number=form.cleaned_data["version"])
            outcome = _execute(request, version, form.cleaned_data["inputs"] or None, form)
        context = self._page(request, workflow, f"Execute {workflow.name}", form=form,
                             outcome=outcome, variables=variables, version=chosen)
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


def _version_for(workflow: Workflow, number: Any) -> WorkflowVersion | None:
    """The version `number` names, or the current one."""
    try:
        return workflow.versions.get(number=int(number))
    except (TypeError, ValueError, WorkflowVersion.DoesNotExist):
        return workflow.current_version


def _execute(request: HttpRequest, version: WorkflowVersion, inputs: dict[str, Any] | None,
             form: ExecuteForm | None) -> dict[str, Any] | None:
    """Run `version` as its workflow's execution_mode says: in this request, or on the
    queue (`async`, or `auto` past the web tier's limit), as the API would; a queued run
    is linked, not waited for (a long run must not hold a web worker)."""
    try:
        limits = services.server_limits()
        if queueing.mode_queues(version.workflow.execution_mode, limits):
            run = queueing.enqueue_version(version, user=request.user, limits=limits,
                                           inputs=inputs, trigger=Trigger.ADMIN)
            return {"version": version, "queued": run}
        execution = services.execute_version(version, user=request.user, inputs=inputs,
                                             trigger=Trigger.ADMIN)
    except PayloadError as exc:
        if form is not None:
            form.add_error("inputs", [f"{p.path}: {p.message}" for p in exc.problems])
        else:
            messages.error(request, f"{version}: {exc}")
        return None
    except queueing.QueueUnavailable as exc:
        messages.error(request, f"{version}: {exc}")
        return None
    result = execution.result
    nodes = sorted(result.nodes, key=lambda n: (n.started_ms is None, n.started_ms or 0))
    total = result.duration_ms or 0
    rows = [{"node": node, "bar": _bar(node.started_ms, node.duration_ms, total),
             "output": _short_json(result.node_results.get(node.id))} for node in nodes]
    return {"version": version, "result": result, "run_id": execution.run_id, "rows": rows,
            "graph": pages.result_graph(version.definition, result),
            "graph_id": f"graph-{version.workflow_id}-{version.number}",
            "final_output": json.dumps(result.final_output, indent=2, ensure_ascii=False,
                                       default=str)}


def _bar(start: float | None, duration: float | None, total: float) -> dict[str, str] | None:
    """Where a node ran within its run, as CSS percentages for a timeline bar."""
    if not total or start is None or duration is None:
        return None
    left = min(100.0, 100 * start / total)
    return {"left": f"{left:.2f}", "width": f"{min(100.0 - left, 100 * duration / total):.2f}"}


def _short_json(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 200 else text[:200] + "…"


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
    list_display = ["short_id", "workflow", "version_number", "status_pill", "started",
                    "duration", "node_count", "trigger", "requested_by"]
    list_select_related = ["workflow", "version", "requested_by"]
    # Filters that cost no scan of the history (no DISTINCT over runs, no date hierarchy).
    list_filter = ["status", "trigger", "workflow", SlowRunFilter, "started_at"]
    search_fields = ["execution_id"]
    inlines = [NodeRunInline]
    paginator = CappedCountPaginator
    show_full_result_count = False
    readonly_fields = ["id", "workflow", "version", "status", "started_at", "finished_at",
                       "duration_ms", "requested_by", "final_output_json", "error_json",
                       "inputs_json", "limits_json", "execution_id", "node_count",
                       "worker_host", "worker_pid", "trigger", "queued_at",
                       "cancel_requested_at", "callback_url", "callback_state",
                       "callback_attempts", "callback_error", "callback_at"]
    fieldsets = [
        (None, {"fields": ["id", "workflow", "version", "status", "trigger", "requested_by",
                           "queued_at", "started_at", "finished_at", "duration_ms"]}),
        ("Result", {"fields": ["final_output_json", "error_json", "inputs_json"]}),
        ("Details", {"classes": ["collapse"],
                     "fields": ["limits_json", "execution_id", "node_count", "worker_host",
                                "worker_pid", "cancel_requested_at"]}),
        ("Callback", {"classes": ["collapse"],
                      "fields": ["callback_url", "callback_state", "callback_attempts",
                                 "callback_error", "callback_at"]}),
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

    @admin.display(description="run", ordering="id")
    def short_id(self, run: Run) -> str:
        return format_html('<span title="{}">{}</span>', run.id, str(run.id)[:8])

    @admin.display(description="status", ordering="status")
    def status_pill(self, run: Run) -> str:
        return format_html('<span class="status-pill status-{}">{}</span>', run.status,
                           run.status)

    @admin.display(description="started", ordering="started_at")
    def started(self, run: Run) -> str:
        return timezone.localtime(run.started_at).strftime("%Y-%m-%d %H:%M:%S")

    @admin.display(description="duration", ordering="duration_ms")
    def duration(self, run: Run) -> str:
        return "" if run.duration_ms is None else f"{run.duration_ms:.1f} ms"

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict[str, Any] | None = None) -> HttpResponse:
        """The run's graph (each node coloured by its outcome) above the timeline."""
        run = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if run is not None:
            node_runs = list(run.node_runs.order_by(F("started_offset_ms").asc(nulls_last=True),
                                                    "id"))
            extra["graph"] = pages.run_graph(run, node_runs)
        return super().change_view(request, object_id, form_url, extra)

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


@admin.register(Credential)
class CredentialAdmin(admin.ModelAdmin):
    """Credentials: staff see and manage every user's, but never a secret (the form's
    secret fields are write-only; the encrypted value is not shown either)."""

    form = CredentialAdminForm
    list_display = ["name", "owner", "kind", "base_url", "updated_at"]
    list_filter = ["kind"]
    search_fields = ["name", "owner__username", "base_url"]
    list_select_related = ["owner"]
    raw_id_fields = ["owner"]


class ScheduleForm(PeriodicTaskForm):
    """django-celery-beat's periodic task form, plus a check of a workflow schedule's
    kwargs (`{"workflow": id, "inputs": {...}}`) when it is saved: a wrong id or input
    would otherwise fail every turn, found out only in the worker's log."""

    def clean(self) -> dict[str, Any]:
        data: dict[str, Any] = super().clean()
        if data.get("task") == SCHEDULED_TASK and "kwargs" in data:
            problems = queueing.schedule_problems(json.loads(data["kwargs"] or "{}"))
            if problems:
                self.add_error("kwargs", problems)
        return data


class ScheduleAdmin(PeriodicTaskAdmin):
    form = ScheduleForm


admin.site.unregister(PeriodicTask)
admin.site.register(PeriodicTask, ScheduleAdmin)
