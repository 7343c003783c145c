"""Queue mode: runs that execute on `thaiyyal worker`s instead of in the request.

A queued run is a `queued` row first (validated, with everything a worker needs: the
version or the ad-hoc payload, the inputs, the limits), then a message naming it on the
broker. The worker claims the row and runs it through workflows.services exactly as a
request would (services.execute_queued); the row is the truth, the message only a nudge,
so a redelivered message finds the run started and runs nothing.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from rest_framework.exceptions import Throttled

import engine
from engine import Limits
from engine.runner import bind_inputs
from workflows import services
from workflows.api import inflight
from workflows.models import (
    ExecutionMode,
    Run,
    RunStatus,
    Trigger,
    Workflow,
    WorkflowVersion,
    new_run_id,
)
from workflows.services import User

log = logging.getLogger(__name__)

#: what a run not in this state can no longer be cancelled from
ENDED = frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.INTERRUPTED,
                   RunStatus.CANCELLED})


#: the task a queued run's message names (workflows/tasks.py)
EXECUTE_TASK = "thaiyyal.execute_run"


class QueueUnavailable(Exception):
    """No broker is configured, or it could not be reached: the API answers 503."""


def queue_configured() -> bool:
    return bool(settings.THAIYYAL_BROKER_URL)


def require_queue() -> None:
    if not queue_configured():
        raise QueueUnavailable("queue mode is not configured: set THAIYYAL_BROKER_URL (e.g. "
                               "amqp://guest:guest@127.0.0.1:5672//) and start `thaiyyal "
                               "worker`")


def mode_queues(mode: str, limits: Limits) -> bool:
    """Whether a workflow's `execution_mode` sends a run with `limits` to the queue without
    being asked: `async` always, `auto` when the run's time limit is longer than the web
    tier's (THAIYYAL_WEB_MAX_EXECUTION_TIME) and a queue is configured."""
    if mode == ExecutionMode.ASYNC:
        return True
    web_limit = settings.THAIYYAL_WEB_MAX_EXECUTION_TIME
    return (mode == ExecutionMode.AUTO and web_limit is not None
            and limits.max_execution_time > web_limit and queue_configured())


def enqueue_payload(payload: Any, *, user: User, limits: Limits, raw: bytes | None = None,
                    run_id: uuid.UUID | None = None, trigger: str = Trigger.API,
                    callback_url: str = "") -> Run:
    """Queue an ad-hoc payload (validated now: PayloadError as for a synchronous run)."""
    require_queue()
    workflow = services.load_payload(payload, raw)
    if isinstance(payload, bytes | str):
        payload = json.loads(payload)
    return _enqueue(workflow, user=user, limits=limits, run_id=run_id, trigger=trigger,
                    callback_url=callback_url, payload=payload)


def enqueue_version(version: WorkflowVersion, *, user: User, limits: Limits,
                    inputs: dict[str, Any] | None = None, run_id: uuid.UUID | None = None,
                    trigger: str = Trigger.API, callback_url: str = "") -> Run:
    """Queue a stored version; its inputs are checked now (PayloadError, `$.inputs.<name>`)."""
    require_queue()
    workflow = services.load_version(version)
    if inputs:
        bind_inputs(workflow, inputs)
    return _enqueue(workflow, user=user, limits=limits, run_id=run_id, trigger=trigger,
                    callback_url=callback_url, version=version, inputs=inputs)


def _enqueue(workflow: engine.Workflow, *, user: User, limits: Limits,
             run_id: uuid.UUID | None, trigger: str, callback_url: str,
             version: WorkflowVersion | None = None, inputs: dict[str, Any] | None = None,
             payload: Any = None) -> Run:
    now = timezone.now()
    requester = user if user is not None and user.is_authenticated else None
    with transaction.atomic():
        queued = _hold_a_run_slot(requester)
        run = Run.objects.create(
            id=run_id or new_run_id(), version=version,
            workflow_id=version.workflow_id if version is not None else None,
            status=RunStatus.QUEUED, started_at=now, queued_at=now, limits=limits.to_dict(),
            inputs=inputs or None, payload=payload, node_count=workflow.node_count,
            requested_by=requester, trigger=trigger, callback_url=callback_url)
    if requester is not None:
        inflight.note_queued_runs(requester.pk, queued + 1)
    try:
        publish(run.id, limits)
    except Exception as exc:  # noqa: BLE001 - whatever the broker client raises
        log.warning("run %s: could not be queued: %s", run.id, exc)
        Run.objects.filter(pk=run.pk, status=RunStatus.QUEUED).update(
            status=RunStatus.FAILED, finished_at=timezone.now(),
            error={"code": "queue_unavailable", "node_id": None,
                   "message": f"the queue could not be reached: {exc}"[:1000]})
        if requester is not None:
            inflight.note_queued_runs(requester.pk)
        raise QueueUnavailable(f"the queue (THAIYYAL_BROKER_URL) could not be reached: "
                               f"{type(exc).__name__}: {exc}"[:500]) from exc
    return run


def _hold_a_run_slot(user: Any) -> int:
    """In the transaction that writes a queued run: lock the user's row (two runs queued
    at once are counted one after the other) and refuse past the runs-in-flight cap
    (DRF's Throttled). The user's queued runs so far."""
    if user is None or not settings.THAIYYAL_MAX_RUNS_IN_FLIGHT:
        return 0
    get_user_model().objects.select_for_update().filter(pk=user.pk).exists()
    return inflight.refuse_past_cap(user.pk)


def run_ended(run_id: Any) -> None:
    """A queued run has ended (or was never started): its requester's queued-run count,
    as synchronous executes see it, is counted again."""
    requester = Run.objects.filter(pk=run_id).values_list("requested_by_id", flat=True).first()
    if requester is not None:
        inflight.note_queued_runs(requester)


def publish(run_id: uuid.UUID, limits: Limits) -> None:
    """Send the message that makes a worker run `run_id`. Celery's hard time limit backs
    the engine's deadline: past limit + THAIYYAL_QUEUE_GRACE_SECONDS the worker process is
    replaced (and the reaper marks the run `interrupted`)."""
    from thaiyyal.celeryconf import app

    hard_limit = limits.max_execution_time + settings.THAIYYAL_QUEUE_GRACE_SECONDS
    app.send_task(EXECUTE_TASK, args=[str(run_id)], task_id=str(run_id),
                  time_limit=hard_limit)


def request_cancel(run_id: Any) -> Run:
    """Stop a run: a queued one is `cancelled` at once (a worker that takes its message
    later runs nothing); a running one is asked to stop (the process running it notices
    within THAIYYAL_CANCEL_POLL_SECONDS and records `cancelled`). Returns the run as it
    is now. Run.DoesNotExist if there is no such run."""
    from workflows import callbacks

    now = timezone.now()
    if Run.objects.filter(pk=run_id, status=RunStatus.QUEUED).update(
            status=RunStatus.CANCELLED, finished_at=now, cancel_requested_at=now,
            error={"code": "cancelled", "node_id": None,
                   "message": "the run was cancelled at a user's request before it started"}):
        callbacks.run_ended(run_id)  # no worker will: the message now runs nothing
    Run.objects.filter(Q(cancel_requested_at__isnull=True), pk=run_id,
                       status=RunStatus.RUNNING).update(cancel_requested_at=now)
    return Run.objects.get(pk=run_id)


def wait_for_end(run_id: Any, seconds: float) -> Run:
    """The run once it has ended, or as it is after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        run = Run.objects.get(pk=run_id)
        if run.status in ENDED or time.monotonic() >= deadline:
            return run
        time.sleep(0.05)


def schedule_problems(kwargs: Any) -> list[str]:
    """What would make every turn of a schedule with these kwargs (`{"workflow": id,
    "inputs": {...}}`, what scheduled_run takes) fail; [] when its turns can run. Checked
    when a schedule is made or edited, not found out at each turn."""
    if not isinstance(kwargs, dict):
        return ['must be a JSON object {"workflow": <id>, "inputs": {...}}']
    unknown = sorted(set(kwargs) - {"workflow", "inputs"})
    if unknown:
        return [f"unknown key(s) {', '.join(unknown)}: only workflow and inputs"]
    workflow_id, inputs = kwargs.get("workflow"), kwargs.get("inputs") or {}
    if not isinstance(workflow_id, int) or isinstance(workflow_id, bool):
        return ["workflow: must be a workflow's id (a number)"]
    if not isinstance(inputs, dict):
        return ["inputs: must be a JSON object {name: value}"]
    workflow = Workflow.objects.select_related("current_version").filter(
        pk=workflow_id).first()
    if workflow is None:
        return [f"workflow {workflow_id}: no such workflow"]
    if workflow.current_version is None:
        return [f"workflow {workflow_id}: has no version to run"]
    try:
        bind_inputs(services.load_version(workflow.current_version), inputs)
    except engine.PayloadError as exc:
        return [f"{p.path}: {p.message}" for p in exc.problems]
    return []


def run_scheduled(workflow_id: int, inputs: dict[str, Any] | None, run_id: Any) -> Run | None:
    """A schedule's turn (the scheduler's message, on a worker): a run of the workflow's
    current version, recorded with trigger `schedule` on behalf of its owner, under
    `run_id` (the message's id: a redelivered message finds its run and runs nothing).
    None when the workflow is gone or has no version."""
    workflow = (Workflow.objects.select_related("owner", "current_version")
                .filter(pk=workflow_id).first())
    if workflow is None or workflow.current_version is None:
        log.warning("schedule: workflow %s is gone or has no version: nothing run",
                    workflow_id)
        return None
    version = workflow.current_version
    loaded = services.load_version(version)
    if Run.objects.filter(pk=run_id).exists():
        return None
    now = timezone.now()
    refused = ""
    try:
        with transaction.atomic():
            try:
                queued = _hold_a_run_slot(workflow.owner)
            except Throttled as exc:
                # Its owner's runs fill the cap: this turn is skipped, and the run history
                # says so (a schedule has no client to answer 429).
                refused = str(exc.detail)
            run = Run.objects.create(
                id=run_id, version=version, workflow_id=workflow.pk,
                status=RunStatus.FAILED if refused else RunStatus.QUEUED,
                started_at=now, queued_at=now, finished_at=now if refused else None,
                error={"code": "too_many_runs", "node_id": None,
                       "message": refused} if refused else None,
                limits=services.server_limits().to_dict(),
                inputs=inputs or None, node_count=loaded.node_count,
                requested_by=workflow.owner, trigger=Trigger.SCHEDULE)
    except IntegrityError:
        return None  # the same message, delivered twice at once
    if refused:
        log.warning("schedule: workflow %s not run: %s", workflow_id, refused)
        return None
    if workflow.owner_id is not None:
        inflight.note_queued_runs(workflow.owner_id, queued + 1)
    return run
