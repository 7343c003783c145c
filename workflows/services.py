"""The one place runs happen: record -> execute -> record.

The API, the admin, the management commands and the tests call these functions; none of
them touches the engine's execute directly. Also here: validating and saving workflow
definitions (every change a new version).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import secrets
import uuid
from collections.abc import Callable
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
from workflows import credentials
from workflows.cancelling import Progress
from workflows.cancelling import watcher as cancel_watcher
from workflows.loading import LoadedWorkflows
from workflows.metrics import TeeObserver, run_observer
from workflows.models import Run, RunStatus, Trigger, Workflow, WorkflowVersion, new_run_id
from workflows.queue_metrics import QUEUE_WAIT
from workflows.recording import DatabaseUnavailable, RunRecorder, capped_json, this_worker

log = logging.getLogger(__name__)

User: TypeAlias = AbstractBaseUser | AnonymousUser | None


@dataclass(frozen=True, slots=True)
class Execution:
    """What a caller gets back: the engine's result, and the run's id when it was recorded."""

    result: Result
    run_id: Any | None
    limits: Limits
    workflow: engine.Workflow
    #: what the caller's `answer` made of it (the encoded response), before it was recorded
    answer: Any = None

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
    variables from the environment itself), and the response cache every process shares
    when THAIYYAL_REDIS_URL is set."""
    found: dict[str, Any] = {}
    if settings.THAIYYAL_REDIS_URL:  # shared by every process (workflows/shared_cache.py)
        from django.core.cache import cache

        from workflows.shared_cache import SharedResponseCache

        found["response_cache"] = SharedResponseCache(cache)
    hosts, networks = settings.THAIYYAL_HTTP_ALLOWED_HOSTS, settings.THAIYYAL_HTTP_ALLOWED_NETWORKS
    if hosts or networks:
        found["egress_policy"] = EgressPolicy(allowed_hosts=frozenset(hosts),
                                              allowed_networks=tuple(networks))
    return found


def run_services(workflow: engine.Workflow, user_id: int | None,
                 version: WorkflowVersion | None) -> dict[str, Any]:
    """engine_services, plus the credentials the workflow names (when it names any, as
    `credential` or `http_client_uid`):
    those of the workflow's owner for a stored version (whoever runs it: the workflow's
    author chose them), of the requesting user for an ad-hoc payload."""
    names = credentials.names_used(workflow)
    if not names:
        return engine_services()
    if version is not None:
        owner_id = Workflow.all_objects.filter(pk=version.workflow_id).values_list(
            "owner_id", flat=True).first()
    else:
        owner_id = user_id
    resolved = credentials.resolve(owner_id, names)
    # the platform's named HTTP clients are the same stored credentials
    return {**engine_services(), "credentials": resolved, "http_clients": resolved}


@receiver(setting_changed)
def _forget_settings(setting: str, **kwargs: Any) -> None:
    # Tests override settings; the cached values derived from them must follow.
    if setting in {"THAIYYAL_LIMITS", "THAIYYAL_WORKFLOW_CACHE_SIZE",
                   "THAIYYAL_HTTP_ALLOWED_HOSTS", "THAIYYAL_HTTP_ALLOWED_NETWORKS",
                   "THAIYYAL_REDIS_URL"}:
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
                    raw: bytes | None = None, run_id: uuid.UUID | None = None,
                    answer: Callable[[Execution], Any] | None = None) -> Execution:
    """Run an ad-hoc payload. Recorded unless THAIYYAL_RECORD_ADHOC_RUNS is off (or
    `record` says otherwise), under `run_id` when the caller chose it (an idempotency key
    names its run before it starts). Raises PayloadError for an invalid payload.

    `answer(execution)` (the API's response encoder) is called before the run is recorded;
    its value is the returned Execution's `answer`. If it cannot encode the result, the
    run is recorded failed (`unencodable_result`) and answered as such. DatabaseUnavailable
    means the outcome could not be recorded: the client must not be told it succeeded."""
    workflow = load_payload(payload, raw)
    if record is None:
        record = settings.THAIYYAL_RECORD_ADHOC_RUNS
    return _execute(workflow, user=user, limits=limits, record=record, observer=observer,
                    answer=answer, run_id=run_id)


def execute_version(version: WorkflowVersion, *, user: User,
                    inputs: dict[str, Any] | None = None, limits: Limits | None = None,
                    observer: Observer | None = None,
                    run_id: uuid.UUID | None = None,
                    answer: Callable[[Execution], Any] | None = None,
                    trigger: str = Trigger.API) -> Execution:
    """Run a stored version (any version, not only the current one), always recorded
    (under `run_id` when the caller chose it). `inputs` override the workflow's context
    variables by name; an unknown name or a value of the wrong type raises PayloadError
    (paths `$.inputs.<name>`). `answer` as for execute_payload."""
    workflow = load_version(version)
    return _execute(workflow, user=user, limits=limits, record=True, observer=observer,
                    version=version, inputs=inputs, answer=answer, run_id=run_id,
                    trigger=trigger)


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
    workflow = Workflow.from_db(alias, ["id", "name", "owner_id", "current_version_id",
                                        "execution_mode"], [*row[:4], row[6]])
    if row[3] is None:
        return workflow, None
    version = WorkflowVersion.from_db(alias, ["id", "workflow_id", "number", "checksum"],
                                      [row[3], row[0], row[4], row[5]])
    return workflow, version


@cache
def _workflow_to_run_sql(alias: str) -> str:
    quote = connections[alias].ops.quote_name
    workflows, versions = (quote(m._meta.db_table) for m in (Workflow, WorkflowVersion))
    return (f"SELECT w.id, w.name, w.owner_id, w.current_version_id, v.number, v.checksum, "
            f"w.execution_mode "
            f"FROM {workflows} w LEFT JOIN {versions} v ON v.id = w.current_version_id "
            f"WHERE w.id = %s AND w.deleted_at IS NULL AND (%s OR w.owner_id = %s)")


def execute_queued(run_id: Any, *,
                   answer: Callable[[Execution], Any] | None = None) -> Execution | None:
    """Run a queued run here (a queue worker), at most once: the worker claims the row
    (`queued` -> `running`, one conditional UPDATE) and runs it only if that succeeded, so
    a redelivered message whose run already started, ended or was cancelled runs nothing
    (None). Otherwise as execute_version / execute_payload, recorded on the same row."""
    host, pid = this_worker()
    claimed = Run.objects.filter(pk=run_id, status=RunStatus.QUEUED).update(
        status=RunStatus.RUNNING, started_at=timezone.now(), worker_host=host,
        worker_pid=pid)
    if not claimed:
        log.info("run %s: not queued any more (started, ended or cancelled): skipped", run_id)
        return None
    run = Run.objects.select_related("version").get(pk=run_id)
    if run.queued_at is not None:
        QUEUE_WAIT.observe((run.started_at - run.queued_at).total_seconds() * 1000)
    try:
        if run.version is not None:
            workflow = load_version(run.version)
        elif run.payload is not None:
            workflow = load_payload(run.payload)
        else:
            raise PayloadError([Problem("$", "the run's workflow version no longer exists")])
        limits = Limits(**run.limits)
    except (PayloadError, TypeError, ValueError) as exc:
        # Valid when it was queued; not any more (e.g. the server's limits were lowered).
        recorder = RunRecorder(run, 0, inserted=True)
        _record_failure(recorder, "invalid_workflow", str(exc))
        return None
    return _execute(workflow, user=None, limits=limits, record=True, observer=None,
                    version=run.version, inputs=run.inputs, answer=answer, queued=run)


def _execute(workflow: engine.Workflow, *, user: User, limits: Limits | None, record: bool,
             observer: Observer | None, version: WorkflowVersion | None = None,
             inputs: dict[str, Any] | None = None,
             answer: Callable[[Execution], Any] | None = None,
             run_id: uuid.UUID | None = None, queued: Run | None = None,
             trigger: str = Trigger.API) -> Execution:
    limits = limits or server_limits()
    label = str(version.workflow_id) if version is not None else None
    # whose credentials an ad-hoc payload uses: the requester's (a queued run's too)
    requester_id = getattr(user, "pk", None) if user is not None else (
        queued.requested_by_id if queued is not None else None)
    if not record:
        observer = run_observer(observer, workflow=label)  # metrics and the JSON run log
        result = workflow.execute(limits=limits, observer=observer, inputs=inputs,
                                  services=run_services(workflow, requester_id, version))
        execution = Execution(result, None, limits, workflow)
        try:
            return _answered(execution, answer)
        except _UNENCODABLE as exc:
            return _answered(_unencodable(execution, exc), answer)
    cap = settings.THAIYYAL_NODE_OUTPUT_MAX_BYTES
    if queued is not None:
        run = queued
        recorder = RunRecorder(run, settings.THAIYYAL_RUNNING_ROW_AFTER_MS, inserted=True)
    else:
        host, pid = this_worker()
        run = Run(id=run_id or new_run_id(), version=version,
                  workflow_id=version.workflow_id if version is not None else None,
                  status=RunStatus.RUNNING, started_at=timezone.now(),
                  limits=limits.to_dict(),
                  inputs=capped_json(inputs, cap)[0] if inputs else None,
                  node_count=workflow.node_count,
                  requested_by=user if user is not None and user.is_authenticated else None,
                  worker_host=host, worker_pid=pid, trigger=trigger)
        recorder = RunRecorder(run, settings.THAIYYAL_RUNNING_ROW_AFTER_MS)
        recorder.start()
    if queued is not None:  # followed by its client: node runs are written as they end
        progress = Progress(run.id)
        cancel_watcher.report(progress)
        observer = progress if observer is None else TeeObserver(progress, observer)
    observer = run_observer(observer, run_id=str(run.id), workflow=label)
    services = {**run_services(workflow, requester_id, version),
                "run_started": functools.partial(cancel_watcher.watch, run.id)}
    try:
        result = workflow.execute(limits=limits, observer=observer, inputs=inputs,
                                  services=services)
    except PayloadError:
        cancel_watcher.forget(run.id)
        if queued is not None:
            _record_failure(recorder, "invalid_inputs", "the run's inputs were refused")
        else:
            recorder.discard()
        raise
    except Exception as exc:
        # An engine defect, not the user's doing: keep the evidence, then let it surface
        # (the API answers a JSON 500).
        cancel_watcher.forget(run.id)
        log.exception("run %s crashed", run.id)
        _record_failure(recorder, "internal_error", f"{type(exc).__name__}: {exc}")
        raise
    if cancel_watcher.forget(run.id):
        result = _cancelled(result)
    # The answer is encoded before the run is recorded: a result the client cannot be
    # sent must not be recorded as succeeded (that encoding is the one the response
    # uses, so it is not paid twice).
    try:
        execution, final_output, rows = _encoded(Execution(result, run.id, limits, workflow),
                                                 answer, cap)
    except Exception as exc:
        log.exception("run %s could not be answered", run.id)
        _record_failure(recorder, "internal_error", f"{type(exc).__name__}: {exc}")
        raise
    result = execution.result
    try:
        recorder.finish(status=result.status, duration_ms=result.duration_ms,
                        execution_id=result.execution_id, final_output=final_output,
                        error=result.error, node_rows=rows)
    except DatabaseUnavailable:
        raise
    except Exception as exc:
        # The result could not be stored (not for want of a database): the client gets a
        # JSON 500, so the record says failed, with why.
        log.exception("run %s could not be recorded", run.id)
        _record_failure(recorder, "recording_failed",
                        f"the run's result could not be recorded: {type(exc).__name__}: {exc}")
        raise
    return execution


def _encoded(execution: Execution, answer: Callable[[Execution], Any] | None,
             cap: int) -> tuple[Execution, Any, list[dict[str, Any]]]:
    """The execution with its answer, its final output as stored and its node rows; a
    result that cannot be encoded becomes a failed execution (see _unencodable)."""
    try:
        answered = _answered(execution, answer)
        return (answered, capped_json(execution.result.final_output, cap)[0],
                node_rows(execution.result, cap))
    except _UNENCODABLE as exc:
        failed = _answered(_unencodable(execution, exc), answer)
        return failed, None, unencodable_node_rows(failed.result, cap)


#: what json.dumps raises on a value it cannot write: an integer past Python's digit
#: limit (ValueError), nesting deeper than the stack allows (RecursionError)
_UNENCODABLE = (ValueError, RecursionError, TypeError)


def _answered(execution: Execution, answer: Callable[[Execution], Any] | None) -> Execution:
    if answer is None:
        return execution
    return dataclasses.replace(execution, answer=answer(execution))


def _unencodable(execution: Execution, exc: BaseException) -> Execution:
    """The run as failed: its result cannot be written as JSON (for the client or the
    record). Its values are dropped; its nodes' statuses and timings are kept."""
    result = execution.result
    message = ("the run's result cannot be encoded as JSON: "
               f"{type(exc).__name__}: {str(exc)[:200]}")
    failed = dataclasses.replace(
        result, status=RunStatus.FAILED, final_output=None, node_results={},
        error={"code": "unencodable_result", "node_id": None, "message": message},
        errors=[*result.errors, message])
    failed._nodes = result.nodes
    return dataclasses.replace(execution, result=failed)


def _cancelled(result: Result) -> Result:
    """The result of a run stopped at a user's request: `cancelled`, whatever its nodes
    made of being stopped."""
    stopped = dataclasses.replace(
        result, status=RunStatus.CANCELLED,
        error={"code": "cancelled", "node_id": (result.error or {}).get("node_id"),
               "message": "the run was cancelled at a user's request"})
    stopped._nodes = result.nodes
    return stopped


def _record_failure(recorder: RunRecorder, code: str, message: str) -> None:
    message = message[:1000]
    elapsed = (timezone.now() - recorder.run.started_at).total_seconds() * 1000
    recorder.finish(status=RunStatus.FAILED, duration_ms=elapsed, execution_id="",
                    final_output=None, node_rows=[],
                    error={"code": code, "node_id": None, "message": message})


def unencodable_node_rows(result: Result, output_cap: int) -> list[dict[str, Any]]:
    """node_rows for a run whose outputs could not all be encoded: each output that can be
    is kept; the others are stored as null with the reason."""
    rows = node_rows(result, 1, outputs=False)
    for row in rows:
        if row["node_id"] not in result.node_results:
            continue
        try:
            row["output"], row["output_truncated"] = capped_json(
                result.node_results[row["node_id"]], output_cap)
        except _UNENCODABLE as exc:
            row["error"] = row["error"] or f"output cannot be encoded as JSON: {exc}"[:500]
    return rows


def node_rows(result: Result, output_cap: int, outputs: bool = True) -> list[dict[str, Any]]:
    """The run's NodeRun rows as field values (not model instances: building those cost
    more than inserting them)."""
    rows = []
    results = result.node_results if outputs else {}
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
                    description: str = "", execution_mode: str | None = None) -> Workflow:
    """A new workflow with `definition` as version 1, stored in canonical form (the
    editor's type names and camelCase keys rewritten). Raises PayloadError if invalid."""
    # Checked as written, so that each problem's path names the user's own keys.
    validate_stored_definition(definition)
    definition = engine.canonical_definition(definition)
    with transaction.atomic():
        workflow = Workflow.objects.create(owner=owner, name=name, description=description,
                                           slug=free_slug(owner, name),
                                           execution_mode=execution_mode or "sync")
        _add_version(workflow, definition, owner)
        workflow.save(update_fields=["current_version", "updated_at"])
    return workflow


def update_workflow(workflow: Workflow, *, user: AbstractBaseUser | None,
                    name: str | None = None, description: str | None = None,
                    definition: Any = None,
                    execution_mode: str | None = None) -> WorkflowVersion | None:
    """Change a workflow's details and/or definition. A definition that differs from the
    current one becomes a new version (returned); earlier versions are kept. Raises
    PayloadError if the definition is invalid."""
    if definition is not None:
        validate_stored_definition(definition)  # as written: paths name the user's keys
        definition = engine.canonical_definition(definition)
    with transaction.atomic():
        if name is not None and name != workflow.name:
            workflow.name = name
        if description is not None:
            workflow.description = description
        if execution_mode is not None:
            workflow.execution_mode = execution_mode
        version = None
        if definition is not None:
            current = workflow.current_version
            if current is None or current.checksum != definition_checksum(definition):
                version = _add_version(workflow, definition, user)
        # Never `deleted_at`: a delete that committed while this request held the workflow
        # must not be undone by saving the copy it loaded before.
        workflow.save(update_fields=["name", "description", "owner", "current_version",
                                     "execution_mode", "updated_at"])
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


def rotate_webhook_secret(workflow: Workflow) -> str:
    """A new webhook secret for `workflow` (the old one stops working at once)."""
    workflow.webhook_secret = secrets.token_urlsafe(32)
    Workflow.all_objects.filter(pk=workflow.pk).update(webhook_secret=workflow.webhook_secret)
    return workflow.webhook_secret


def free_slug(owner: AbstractBaseUser, name: str) -> str:
    base = slugify(name)[:180] or "workflow"
    taken = set(Workflow.objects.filter(owner=owner, slug__startswith=base)
                .values_list("slug", flat=True))
    slug, n = base, 1
    while slug in taken:
        n += 1
        slug = f"{base}-{n}"
    return slug
