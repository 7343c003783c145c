"""The one place runs happen: record -> execute -> record (DESIGN §1).

The API, the admin, the management commands and the tests call these functions; none of
them touches the engine's execute directly. Also here: validating and saving workflow
definitions (every change a new version).
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from dataclasses import dataclass
from functools import cache
from typing import Any, TypeAlias

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import connections, transaction
from django.db.models import Max
from django.dispatch import receiver
from django.test.signals import setting_changed
from django.utils import timezone
from django.utils.text import slugify

import engine
from engine import Limits, PayloadError, Problem, Result
from engine.catalog import choice_problems
from engine.egress import EgressPolicy
from engine.observe import Observer
from engine.payload import decode
from workflows.loading import LoadedWorkflows
from workflows.metrics import run_observer
from workflows.models import Run, RunStatus, Workflow, WorkflowVersion, new_run_id
from workflows.recording import RunRecorder, capped_json, finish_fields, this_worker

log = logging.getLogger(__name__)

User: TypeAlias = AbstractBaseUser | AnonymousUser | None


@dataclass(frozen=True, slots=True)
class Execution:
    """What a caller gets back: the engine's result, and the run's id when it was recorded."""

    result: Result
    run_id: Any | None
    limits: Limits
    workflow: engine.Workflow

    def node_path(self, node_id: str | None) -> str:
        """The JSON path of a node in the payload, e.g. `$.nodes[3]`."""
        for i, node in enumerate(self.workflow.nodes):
            if node.id == node_id:
                return f"$.nodes[{i}]"
        return "$.nodes"

    @property
    def succeeded(self) -> bool:
        return self.result.succeeded


# --- limits -----------------------------------------------------------------------------


@cache
def server_limits() -> Limits:
    return Limits(**settings.THAIYYAL_LIMITS)


def request_limits(requested: dict[str, Any] | None = None, path: str = "$.limits") -> Limits:
    """The server's limits lowered by a request's (never raised). Raises PayloadError with
    the offending names (at `path`.<name>) when a value is unknown or not positive."""
    limits = server_limits()
    if not requested:
        return limits
    problems = []
    for name, value in requested.items():
        try:
            limits = limits.lowered(**{name: _limit_value(name, value)})
        except (TypeError, ValueError) as exc:
            problems.append(Problem(f"{path}.{name}", str(exc)))
    if problems:
        raise PayloadError(problems)
    return limits


def _limit_value(name: str, value: Any) -> Any:
    # Query strings carry text; counts must become numbers before comparison.
    if isinstance(value, str) and name not in {"max_execution_time", "http_timeout",
                                                "http_connect_timeout"}:
        try:
            return int(value)
        except ValueError:
            raise ValueError(f"must be a whole number, got {value!r}") from None
    return value


# --- loading ----------------------------------------------------------------------------


@cache
def loaded_workflows() -> LoadedWorkflows:
    return LoadedWorkflows(settings.THAIYYAL_WORKFLOW_CACHE_SIZE)


@cache
def engine_services() -> dict[str, Any]:
    """What the engine's nodes get from the platform: the operator's HTTP allowlist when
    the settings name one (without, the engine reads the same THAIYYAL_HTTP_ALLOWED_*
    variables from the environment itself)."""
    hosts, networks = settings.THAIYYAL_HTTP_ALLOWED_HOSTS, settings.THAIYYAL_HTTP_ALLOWED_NETWORKS
    if not hosts and not networks:
        return {}
    return {"egress_policy": EgressPolicy(allowed_hosts=frozenset(hosts),
                                          allowed_networks=tuple(networks))}


@receiver(setting_changed)
def _forget_settings(setting: str, **kwargs: Any) -> None:
    # Tests override settings; the cached values derived from them must follow.
    if setting in {"THAIYYAL_LIMITS", "THAIYYAL_WORKFLOW_CACHE_SIZE",
                   "THAIYYAL_HTTP_ALLOWED_HOSTS", "THAIYYAL_HTTP_ALLOWED_NETWORKS"}:
        server_limits.cache_clear()
        loaded_workflows.cache_clear()
        engine_services.cache_clear()


def load_payload(payload: Any, raw: bytes | None = None) -> engine.Workflow:
    """Validate and compile an ad-hoc payload (dict, JSON text or bytes), cached by content
    (`raw`, the request body it was parsed from, when the caller has it: cheaper to hash
    than re-encoding). Raises PayloadError with every problem and its path."""
    content: bytes | str = raw if raw is not None else (
        payload if isinstance(payload, bytes | str) else _canonical_json(payload))
    if isinstance(content, str):
        content = content.encode()
    key = ("payload", hashlib.sha256(content).digest())
    return loaded_workflows().get(key, lambda: engine.Workflow.load(payload, server_limits()))


def load_version(version: WorkflowVersion) -> engine.Workflow:
    """A stored version, loaded once per worker (versions never change). Keyed by id and
    checksum: a restored or recreated database reusing an id cannot serve a stale load."""
    return loaded_workflows().get(
        ("version", version.pk, version.checksum),
        lambda: engine.Workflow.load(version.definition, server_limits()))


def validate_definition(definition: Any) -> engine.Workflow:
    """Load without running. Raises PayloadError with every problem and its path,
    including values outside a field's fixed choices that the engine itself would only
    refuse when the node runs (Thaiyyal's behaviour, kept for ad-hoc execution)."""
    workflow = engine.Workflow.load(definition, server_limits())
    problems = choice_problems(decode(definition, server_limits()))
    if problems:
        raise PayloadError(problems)
    return workflow


def validate_stored_definition(definition: Any) -> engine.Workflow:
    """validate_definition, plus what storing needs: PostgreSQL's JSON and text cannot
    hold the NUL character, so a definition containing one is refused with its paths
    (rather than failing at the INSERT)."""
    workflow = validate_definition(definition)
    paths = nul_paths(definition)
    if paths:
        raise PayloadError([Problem(path, "text must not contain the NUL character "
                                          "(\\u0000): it cannot be stored") for path in paths])
    return workflow


def nul_paths(value: Any, path: str = "$") -> list[str]:
    """JSON paths of the strings (values or keys) in `value` that contain NUL."""
    if isinstance(value, str):
        return [path] if "\x00" in value else []
    found = []
    if isinstance(value, dict):
        for key, item in value.items():
            child = f"{path}.{key}"
            if "\x00" in str(key):
                found.append(child)
            found += nul_paths(item, child)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found += nul_paths(item, f"{path}[{i}]")
    return found


# --- running ----------------------------------------------------------------------------


def execute_payload(payload: Any, *, user: User, limits: Limits | None = None,
                    record: bool | None = None, observer: Observer | None = None,
                    raw: bytes | None = None, run_id: uuid.UUID | None = None) -> Execution:
    """Run an ad-hoc payload. Recorded unless THAIYYAL_RECORD_ADHOC_RUNS is off (or
    `record` says otherwise), under `run_id` when the caller chose it (an idempotency key
    names its run before it starts). Raises PayloadError for an invalid payload."""
    workflow = load_payload(payload, raw)
    if record is None:
        record = settings.THAIYYAL_RECORD_ADHOC_RUNS
    return _execute(workflow, user=user, limits=limits, record=record, observer=observer,
                    run_id=run_id)


def execute_version(version: WorkflowVersion, *, user: User,
                    inputs: dict[str, Any] | None = None, limits: Limits | None = None,
                    observer: Observer | None = None,
                    run_id: uuid.UUID | None = None) -> Execution:
    """Run a stored version (any version, not only the current one), always recorded
    (under `run_id` when the caller chose it). `inputs` override the workflow's context
    variables by name; an unknown name or a value of the wrong type raises PayloadError
    (paths `$.inputs.<name>`)."""
    workflow = load_version(version)
    return _execute(workflow, user=user, limits=limits, record=True, observer=observer,
                    version=version, inputs=inputs, run_id=run_id)


def workflow_to_run(workflow_id: Any, user: User) -> tuple[Workflow, WorkflowVersion | None]:
    """A live workflow `user` may run (their own, or any for staff) and its current version,
    in one fixed SQL statement. Raises Workflow.DoesNotExist otherwise.

    This is the stored-execute hot path: the equivalent ORM query (select_related and
    deferred definition) cost ~0.5 ms of CPU to build and compile on every request.
    The version's definition stays deferred: it is read only when the worker has not
    loaded that version yet."""
    try:
        pk = int(workflow_id)
    except (TypeError, ValueError):
        raise Workflow.DoesNotExist from None
    staff = bool(getattr(user, "is_staff", False))
    owner = getattr(user, "pk", None)
    alias = Workflow.objects.db
    with connections[alias].cursor() as cursor:
        cursor.execute(_workflow_to_run_sql(alias), [pk, staff, owner])
        row = cursor.fetchone()
    if row is None:
        raise Workflow.DoesNotExist
    workflow = Workflow.from_db(alias, ["id", "name", "owner_id", "current_version_id"],
                                row[:4])
    if row[3] is None:
        return workflow, None
    version = WorkflowVersion.from_db(alias, ["id", "workflow_id", "number", "checksum"],
                                      [row[3], row[0], row[4], row[5]])
    return workflow, version


@cache
def _workflow_to_run_sql(alias: str) -> str:
    quote = connections[alias].ops.quote_name
    workflows, versions = (quote(m._meta.db_table) for m in (Workflow, WorkflowVersion))
    return (f"SELECT w.id, w.name, w.owner_id, w.current_version_id, v.number, v.checksum "
            f"FROM {workflows} w LEFT JOIN {versions} v ON v.id = w.current_version_id "
            f"WHERE w.id = %s AND w.deleted_at IS NULL AND (%s OR w.owner_id = %s)")


def _execute(workflow: engine.Workflow, *, user: User, limits: Limits | None, record: bool,
             observer: Observer | None, version: WorkflowVersion | None = None,
             inputs: dict[str, Any] | None = None, run_id: uuid.UUID | None = None
             ) -> Execution:
    limits = limits or server_limits()
    label = str(version.workflow_id) if version is not None else None
    if not record:
        observer = run_observer(observer, workflow=label)  # metrics and the JSON run log
        return Execution(workflow.execute(limits=limits, observer=observer, inputs=inputs,
                                          services=engine_services()),
                         None, limits, workflow)
    host, pid = this_worker()
    run = Run(id=run_id or new_run_id(), version=version,
              workflow_id=version.workflow_id if version is not None else None,
              status=RunStatus.RUNNING, started_at=timezone.now(), limits=limits.to_dict(),
              inputs=capped_json(inputs, settings.THAIYYAL_NODE_OUTPUT_MAX_BYTES)[0]
              if inputs else None, node_count=workflow.node_count,
              requested_by=user if user is not None and user.is_authenticated else None,
              worker_host=host, worker_pid=pid)
    recorder = RunRecorder(run, settings.THAIYYAL_RUNNING_ROW_AFTER_MS)
    observer = run_observer(observer, run_id=str(run.id), workflow=label)
    recorder.start()
    try:
        result = workflow.execute(limits=limits, observer=observer, inputs=inputs,
                                  services=engine_services())
    except PayloadError:
        recorder.discard()
        raise
    except Exception as exc:
        # An engine defect, not the user's doing: keep the evidence, then let it surface.
        log.exception("run %s crashed", run.id)
        elapsed = (timezone.now() - run.started_at).total_seconds() * 1000
        finish_fields(run, RunStatus.FAILED, elapsed, "", None,
                      {"code": "internal_error", "node_id": None,
                       "message": f"{type(exc).__name__}: {exc}"}, 0)
        recorder.finish([])
        raise
    finish_fields(run, result.status, result.duration_ms, result.execution_id,
                  result.final_output, result.error, settings.THAIYYAL_NODE_OUTPUT_MAX_BYTES)
    recorder.finish(node_rows(result, settings.THAIYYAL_NODE_OUTPUT_MAX_BYTES))
    return Execution(result, run.id, limits, workflow)


def node_rows(result: Result, output_cap: int) -> list[dict[str, Any]]:
    """The run's NodeRun rows as field values (not model instances: building those cost
    more than inserting them)."""
    rows = []
    results = result.node_results
    for node in result.nodes:
        if node.id in results:
            output, truncated = capped_json(results[node.id], output_cap)
        else:
            output, truncated = None, False
        rows.append({"node_id": node.id, "node_type": node.type, "status": node.status,
                     "started_offset_ms": node.started_ms, "duration_ms": node.duration_ms,
                     "attempts": node.attempts, "output": output,
                     "output_truncated": truncated, "error": node.error or ""})
    return rows


# --- saving -----------------------------------------------------------------------------


def _canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str).encode()


def definition_checksum(definition: Any) -> str:
    return hashlib.sha256(_canonical_json(definition)).hexdigest()


def create_workflow(*, owner: AbstractBaseUser, name: str, definition: Any,
                    description: str = "") -> Workflow:
    """A new workflow with `definition` as version 1. Raises PayloadError if invalid."""
    validate_stored_definition(definition)
    with transaction.atomic():
        workflow = Workflow.objects.create(owner=owner, name=name, description=description,
                                           slug=free_slug(owner, name))
        _add_version(workflow, definition, owner)
        workflow.save(update_fields=["current_version", "updated_at"])
    return workflow


def update_workflow(workflow: Workflow, *, user: AbstractBaseUser | None,
                    name: str | None = None, description: str | None = None,
                    definition: Any = None) -> WorkflowVersion | None:
    """Change a workflow's details and/or definition. A definition that differs from the
    current one becomes a new version (returned); earlier versions are kept. Raises
    PayloadError if the definition is invalid."""
    if definition is not None:
        validate_stored_definition(definition)
    with transaction.atomic():
        if name is not None and name != workflow.name:
            workflow.name = name
        if description is not None:
            workflow.description = description
        version = None
        if definition is not None:
            current = workflow.current_version
            if current is None or current.checksum != definition_checksum(definition):
                version = _add_version(workflow, definition, user)
        # Never `deleted_at`: a delete that committed while this request held the workflow
        # must not be undone by saving the copy it loaded before.
        workflow.save(update_fields=["name", "description", "owner", "current_version",
                                     "updated_at"])
    return version


def _add_version(workflow: Workflow, definition: Any, user: Any) -> WorkflowVersion:
    # Row lock on the workflow: two saves at once get consecutive numbers, not a clash.
    Workflow.objects.select_for_update().filter(pk=workflow.pk).exists()
    last = workflow.versions.aggregate(n=Max("number"))["n"] or 0
    version = WorkflowVersion.objects.create(
        workflow=workflow, number=last + 1, definition=definition,
        checksum=definition_checksum(definition),
        created_by=user if user is not None and user.is_authenticated else None)
    workflow.current_version = version
    return version


def delete_workflow(workflow: Workflow) -> None:
    """Delete a workflow for its users: from now on it is hidden from lists and details and
    cannot be run. Its versions stay: a run of it still in flight records the version it
    ran, and the history keeps showing it (soft deletion; see Workflow). Its slug is free
    for a new workflow. Deleting a deleted workflow changes nothing."""
    now = timezone.now()
    Workflow.all_objects.filter(pk=workflow.pk, deleted_at__isnull=True).update(
        deleted_at=now, updated_at=now)
    workflow.deleted_at = now


def free_slug(owner: AbstractBaseUser, name: str) -> str:
    base = slugify(name)[:180] or "workflow"
    taken = set(Workflow.objects.filter(owner=owner, slug__startswith=base)
                .values_list("slug", flat=True))
    slug, n = base, 1
    while slug in taken:
        n += 1
        slug = f"{base}-{n}"
    return slug
