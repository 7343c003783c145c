"""Celery tasks (queue mode). A task takes a run's id, never the run: the worker reads
the truth from the database, so a redelivered message finds the run already started."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from celery import shared_task
from django.conf import settings

from workflows import callbacks, queueing, services
from workflows.models import Run
from workflows.queue_metrics import WORKER_BUSY, WORKER_RUNS

log = logging.getLogger(__name__)

#: the task a schedule (django-celery-beat PeriodicTask) names
SCHEDULED_TASK = "thaiyyal.scheduled_run"


@shared_task(name="thaiyyal.execute_run", bind=True, acks_late=True,
             reject_on_worker_lost=True)
def execute_run(task: Any, run_id: str) -> None:
    """Execute the queued run `run_id` (at most once: see services.execute_queued), then
    send its answer to its callback_url, if it has one."""
    try:
        run_here(run_id, task.request.hostname)
    finally:
        queueing.run_ended(run_id)  # its requester's runs in flight, one fewer


def run_here(run_id: str, worker: str | None) -> None:
    """execute_run's work, in this process (`worker`: its Celery node name)."""
    from workflows.api.responses import encoded_execution

    WORKER_BUSY.inc()
    try:
        execution = services.execute_queued(run_id, answer=encoded_execution)
    finally:
        WORKER_BUSY.dec()
    if execution is None:
        return
    WORKER_RUNS.labels(worker or "unknown").inc()
    url = Run.objects.filter(pk=run_id).values_list("callback_url", flat=True).first()
    if url:
        answer = execution.answer
        deliver_callback.delay(run_id, url, answer.status_code, answer.content.decode())


@shared_task(name=SCHEDULED_TASK, bind=True, acks_late=True, reject_on_worker_lost=True)
def scheduled_run(task: Any, workflow: int, inputs: dict[str, Any] | None = None) -> None:
    """A schedule's turn (django-celery-beat sends it; kwargs `{"workflow": id,
    "inputs": {...}}`): the workflow's current version runs here, at most once per
    message (its id is the run's)."""
    run = queueing.run_scheduled(workflow, inputs, uuid.UUID(task.request.id))
    if run is not None:
        try:
            run_here(str(run.pk), task.request.hostname)  # the schedule's message was the queue
        finally:
            queueing.run_ended(run.pk)


@shared_task(name="thaiyyal.deliver_callback", bind=True, acks_late=True)
def deliver_callback(task: Any, run_id: str, url: str, status: int, body: str) -> None:
    """POST a run's answer to its callback_url; retried later while it fails for a
    reason that may pass (see workflows/callbacks.py)."""
    outcome = callbacks.deliver(run_id, url, status, body.encode())
    attempt = task.request.retries + 1
    if outcome is None and attempt < settings.THAIYYAL_CALLBACK_ATTEMPTS:
        raise task.retry(countdown=callbacks.backoff(attempt),
                         max_retries=settings.THAIYYAL_CALLBACK_ATTEMPTS - 1)
    if not outcome:
        log.warning("run %s: callback to %s given up after %d attempt(s)", run_id, url,
                    attempt)
