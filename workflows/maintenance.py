"""Keeping run history honest and bounded: reap runs whose worker died, prune old runs,
purge deleted workflows no run needs, forget expired idempotency keys."""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from workflows.models import IdempotencyKey, NodeRun, Run, RunStatus, Workflow
from workflows.recording import this_worker


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def reap_interrupted(now: datetime | None = None, grace_seconds: int | None = None) -> list[Run]:
    """Mark `running` runs whose worker is gone as `interrupted`; returns them.

    A run is abandoned when it was started on this host by a process that no longer
    exists, or (on any host: a pod may be gone for good) when it has been running longer
    than its own time limit plus a grace period, which no live run can.
    """
    now = now or timezone.now()
    grace = settings.THAIYYAL_REAP_GRACE_SECONDS if grace_seconds is None else grace_seconds
    host, _ = this_worker()
    reaped = []
    running = Run.objects.filter(status=RunStatus.RUNNING).only(
        "id", "started_at", "limits", "worker_host", "worker_pid")
    for run in running:
        reason = _abandoned(run, host, now, grace)
        if reason is None:
            continue
        updated = Run.objects.filter(pk=run.pk, status=RunStatus.RUNNING).update(
            status=RunStatus.INTERRUPTED, finished_at=now,
            error={"code": "interrupted", "node_id": None, "message": reason})
        if updated:
            reaped.append(run)
    return reaped


def _abandoned(run: Run, host: str, now: datetime, grace: int) -> str | None:
    where = f"worker {run.worker_pid} on {run.worker_host or 'an unknown host'}"
    if run.worker_host == host and run.worker_pid and not pid_alive(run.worker_pid):
        return f"{where} stopped before the run finished"
    limit = float((run.limits or {}).get("max_execution_time", 0)) or 0.0
    if run.started_at < now - timedelta(seconds=limit + grace):
        return f"{where} did not finish the run within its time limit ({limit:g}s)"
    return None


def prune_runs(*, older_than_days: int | None = None, keep_per_workflow: int | None = None,
               chunk_size: int = 1000, now: datetime | None = None) -> int:
    """Delete finished runs (and their node runs) older than `older_than_days`, and beyond
    the newest `keep_per_workflow` of each workflow (ad-hoc runs count as one workflow).
    Works in chunks of `chunk_size` runs, each its own short transaction, so a large
    backlog never holds long locks. Returns the number of runs deleted."""
    now = now or timezone.now()
    finished = Run.objects.exclude(status=RunStatus.RUNNING)
    deleted = 0
    if older_than_days is not None:
        old = finished.filter(started_at__lt=now - timedelta(days=older_than_days))
        deleted += _delete_in_chunks(old.order_by("started_at"), chunk_size)
    if keep_per_workflow is not None:
        workflow_ids = Run.objects.order_by().values_list("workflow_id", flat=True).distinct()
        for workflow_id in list(workflow_ids):
            runs = finished.filter(workflow_id=workflow_id).order_by("-started_at", "-id")
            while True:
                ids = list(runs.values_list("id", flat=True)
                           [keep_per_workflow:keep_per_workflow + chunk_size])
                if not ids:
                    break
                deleted += _delete_ids(ids)
    return deleted


def _delete_in_chunks(runs: QuerySet[Run], chunk_size: int) -> int:
    deleted = 0
    while True:
        ids = list(runs.values_list("id", flat=True)[:chunk_size])
        if not ids:
            return deleted
        deleted += _delete_ids(ids)


def _delete_ids(ids: list[Any]) -> int:
    with transaction.atomic():
        NodeRun.objects.filter(run_id__in=ids).delete()
        _, per_model = Run.objects.filter(id__in=ids).delete()
    return per_model.get(Run._meta.label, 0)


#: how long a deleted workflow is kept even when no run references it: far longer than any
#: run can last, so a run still in flight when it was deleted has recorded its version
PURGE_DELETED_AFTER = timedelta(days=1)


def purge_deleted_workflows(*, now: datetime | None = None, chunk_size: int = 1000) -> int:
    """Delete for good (with their versions) the workflows deleted more than a day ago
    that no run references. Workflows with runs stay until those runs are pruned.
    Returns the number of workflows purged."""
    now = now or timezone.now()
    referenced = Run.objects.filter(workflow_id=OuterRef("pk"))
    referenced_version = Run.objects.filter(version__workflow_id=OuterRef("pk"))
    purgeable = (Workflow.all_objects
                 .filter(deleted_at__lt=now - PURGE_DELETED_AFTER)
                 .exclude(Exists(referenced)).exclude(Exists(referenced_version))
                 .order_by("deleted_at"))
    purged = 0
    while True:
        ids = list(purgeable.values_list("id", flat=True)[:chunk_size])
        if not ids:
            return purged
        with transaction.atomic():
            _, per_model = Workflow.all_objects.filter(id__in=ids).delete()
        purged += per_model.get(Workflow._meta.label, 0)


def prune_idempotency_keys(*, now: datetime | None = None, chunk_size: int = 1000) -> int:
    """Delete idempotency keys past their lifetime (they are already ignored); returns
    how many."""
    from workflows.idempotency import expired_before

    expired = IdempotencyKey.objects.filter(created_at__lt=expired_before(now)).order_by(
        "created_at")
    deleted = 0
    while True:
        ids = list(expired.values_list("id", flat=True)[:chunk_size])
        if not ids:
            return deleted
        deleted += IdempotencyKey.objects.filter(id__in=ids).delete()[0]
