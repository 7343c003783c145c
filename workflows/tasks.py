"""Celery tasks (queue mode). A task takes a run's id, never the run: the worker reads
the truth from the database, so a redelivered message finds the run already started."""

from __future__ import annotations

from celery import shared_task

from workflows import services


@shared_task(name="thaiyyal.execute_run", acks_late=True, reject_on_worker_lost=True)
def execute_run(run_id: str) -> None:
    """Execute the queued run `run_id` (at most once: see services.execute_queued)."""
    from workflows.api.responses import encoded_execution

    services.execute_queued(run_id, answer=encoded_execution)
