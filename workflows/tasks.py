"""Celery tasks (queue mode). A task takes a run's id, never the run: the worker reads
the truth from the database, so a redelivered message finds the run already started."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from celery import shared_task
from django.conf import settings

from workflows import callbacks, queueing, services
from workflows.models import CallbackState
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
    execution = None
    try:
        execution = services.execute_queued(run_id, answer=encoded_execution)
    finally:
        WORKER_BUSY.dec()
        # Whatever happened (ran, refused at claim, crashed, or a redelivered message
        # finding the run ended by a worker that died before sending): its callback, once.
        try:
            callbacks.run_ended(run_id, execution.answer if execution is not None else None)
        except Exception:  # noqa: BLE001 - never hide the run's own exception
            log.exception("run %s: its callback could not be queued", run_id)
    if execution is not None:
        WORKER_RUNS.labels(worker or "unknown").inc()


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


@shared_task(name=callbacks.DELIVER_TASK, bind=True, acks_late=True)
def deliver_callback(task: Any, run_id: str, url: str, status: int, body: str) -> None:
    """POST a run's answer to its callback_url; retried later while it fails for a
    reason that may pass (see workflows/callbacks.py). Each attempt is recorded on the
    run."""
    number = task.request.retries + 1
    attempt = callbacks.deliver(run_id, url, status, body.encode())
    last = attempt.delivered is not None or number >= settings.THAIYYAL_CALLBACK_ATTEMPTS
    state = callbacks.record(run_id, number, attempt, last=last)
    if not last:
        raise task.retry(countdown=callbacks.backoff(number),
                         max_retries=settings.THAIYYAL_CALLBACK_ATTEMPTS - 1)
    if state == CallbackState.GAVE_UP:
        log.warning("run %s: callback to %s given up after %d attempt(s)", run_id, url,
                    number)
