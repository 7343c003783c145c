"""Keeping run history honest and bounded: reap runs whose worker died, prune old runs,
purge deleted workflows no run needs, forget expired idempotency keys."""

from __future__ import annotations

import functools
import logging
import os
import threading
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connections, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
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
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    """A process that has exited but whose parent has not collected it yet (a queue
    worker's pool process killed a moment ago): dead for the reaper's purpose."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()[0] == b"Z"
    except (OSError, IndexError):
        return False


def reap_interrupted(now: datetime | None = None, grace_seconds: int | None = None) -> list[Run]:
    """Mark `running` runs whose worker is gone as `interrupted`, and `queued` runs no
    worker took in time as `failed` (`queue_lost`, see reap_lost_queued); returns them
    (their `status` says which).

    A run is abandoned when it was started on this host by a process that no longer
    exists, or (on any host: a pod may be gone for good) when it has been running longer
    than its own time limit plus a grace period, which no live run can.
    """
    now = now or timezone.now()
    grace = settings.THAIYYAL_REAP_GRACE_SECONDS if grace_seconds is None else grace_seconds
    host, _ = this_worker()
    reaped = []
    running = Run.objects.filter(status=RunStatus.RUNNING).only(
        "id", "started_at", "limits", "worker_host", "worker_pid", "callback_url")
    for run in running:
        reason = _abandoned(run, host, now, grace)
        if reason is None:
            continue
        updated = Run.objects.filter(pk=run.pk, status=RunStatus.RUNNING).update(
            status=RunStatus.INTERRUPTED, finished_at=now,
            error={"code": "interrupted", "node_id": None, "message": reason})
        if updated:
            run.status = RunStatus.INTERRUPTED
            reaped.append(run)
    reaped += reap_lost_queued(now)
    _tell_callbacks(reaped)
    return reaped


def reap_lost_queued(now: datetime | None = None,
                     stale_seconds: float | None = None) -> list[Run]:
    """Mark `failed` (error code `queue_lost`) the `queued` runs queued longer ago than
    THAIYYAL_QUEUE_STALE_SECONDS (0: never). Such a run's message is not coming: the web
    process died between writing the row and publishing, the queue was purged, or the
    broker lost it. A message that does turn up later runs nothing (its run is no longer
    `queued`). The age is long by default (a day): a real backlog must never be reaped."""
    now = now or timezone.now()
    stale = settings.THAIYYAL_QUEUE_STALE_SECONDS if stale_seconds is None else stale_seconds
    if not stale:
        return []
    cutoff = now - timedelta(seconds=stale)
    waiting = (Run.objects.filter(status=RunStatus.QUEUED)
               .filter(Q(queued_at__lt=cutoff) | Q(queued_at__isnull=True, started_at__lt=cutoff))
               .only("id", "queued_at", "callback_url"))
    lost = []
    for run in waiting[:1000]:  # more are taken on the next tick
        updated = Run.objects.filter(pk=run.pk, status=RunStatus.QUEUED).update(
            status=RunStatus.FAILED, finished_at=now,
            error={"code": "queue_lost", "node_id": None, "message": (
                f"no worker took the run within {stale:g}s of its queueing (its message "
                "was lost: the queue purged, the broker's data lost, or the server stopped "
                "before sending it)")})
        if updated:
            run.status = RunStatus.FAILED
            lost.append(run)
    return lost


def _tell_callbacks(ended: list[Run]) -> None:
    """Each ended queued run's callback, once the marks are committed (the reaper may run
    in a transaction: a callback must not announce what could still roll back)."""
    from workflows import callbacks

    for run in ended:
        if run.callback_url:
            transaction.on_commit(functools.partial(callbacks.run_ended, run.pk))


def _abandoned(run: Run, host: str, now: datetime, grace: int) -> str | None:
    where = f"worker {run.worker_pid} on {run.worker_host or 'an unknown host'}"
    if run.worker_host == host and run.worker_pid and not pid_alive(run.worker_pid):
        return f"{where} stopped before the run finished"
    limit = float((run.limits or {}).get("max_execution_time", 0)) or 0.0
    if run.started_at < now - timedelta(seconds=limit + grace):
        return f"{where} did not finish the run within its time limit ({limit:g}s)"
    return None


#: the advisory lock key one server at a time holds while reaping ("thaiyyal-reaper")
REAPER_LOCK_KEY = int.from_bytes(b"thaiyyal", "big") & 0x7FFF_FFFF_FFFF_FFFF

log = logging.getLogger(__name__)


def reap_once(grace_seconds: int | None = None) -> list[Run] | None:
    """reap_interrupted under a PostgreSQL advisory lock: when another server (or worker) is
    reaping, returns None at once instead of racing it over the same rows. The lock is
    transaction-scoped (pg_try_advisory_xact_lock), so a pooled connection can never be
    handed on still holding it, and a reaper that dies mid-way releases it."""
    connection = connections[Run.objects.db]
    if connection.vendor != "postgresql":
        return reap_interrupted(grace_seconds=grace_seconds)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [REAPER_LOCK_KEY])
            (locked,) = cursor.fetchone()
        if not locked:
            return None
        return reap_interrupted(grace_seconds=grace_seconds)


def reap_interval(grace_seconds: int) -> float:
    """Seconds between the server's reaps: THAIYYAL_REAP_INTERVAL_SECONDS, at most half the
    grace (so a run is reaped within its time limit plus the grace, not a tick later)."""
    return max(0.5, min(float(settings.THAIYYAL_REAP_INTERVAL_SECONDS), grace_seconds / 2))


class Reaper:
    """The server's own reaper: one daemon thread per worker process reaps every
    `reap_interval()`; the advisory lock makes the workers (and other servers on the same
    database) take turns. A run is marked once its time limit plus the grace is past, or
    as soon as its worker on this host is gone. No command to run."""

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="thaiyyal-reaper", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        grace = settings.THAIYYAL_REAP_GRACE_SECONDS
        interval = reap_interval(grace)
        while not self._stop.is_set():
            try:
                # The tick's length comes off the grace: the reap then lands within limit
                # plus grace, however the ticks fall.
                reaped = reap_once(grace_seconds=max(0, int(grace - interval)))
                if reaped:
                    log.warning("marked %d run(s) ended: %s", len(reaped), ", ".join(
                        f"{run.id} {run.status}" for run in reaped))
            except DatabaseError as exc:
                log.info("reaper: database unavailable (%s); trying again in %gs",
                         str(exc).strip()[:200], interval)
            except Exception:  # noqa: BLE001 - the thread must outlive any one bad tick
                log.exception("reaper tick failed")
            finally:
                connections.close_all()
            self._stop.wait(interval)


reaper = Reaper()


def prune_runs(*, older_than_days: int | None = None, keep_per_workflow: int | None = None,
               chunk_size: int = 1000, now: datetime | None = None) -> int:
    """Delete ended runs (never `running` or `queued` ones) and their node runs: those
    older than `older_than_days`, and those beyond the newest `keep_per_workflow` of each
    workflow (ad-hoc runs count as one workflow).
    Works in chunks of `chunk_size` runs, each its own short transaction, so a large
    backlog never holds long locks. Returns the number of runs deleted."""
    now = now or timezone.now()
    # A queued run is still waiting for a worker: deleting it would make the worker skip
    # its message silently (and its client never learn the answer).
    finished = Run.objects.exclude(status__in=[RunStatus.RUNNING, RunStatus.QUEUED])
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
