"""What a worker writes, once the database is back, for a run whose end it could not
record: `failed` with the reason, never `succeeded` (its client was answered 503)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from workflows.models import Run, RunStatus
from workflows.recording import write_failed_outcome

pytestmark = pytest.mark.django_db
REASON = "the run ended (succeeded) but the database was unreachable; answered 503"


def finished_run(**fields) -> Run:
    """A run as the recorder holds it after the final write failed."""
    now = timezone.now()
    return Run(status=RunStatus.SUCCEEDED, started_at=now - timedelta(seconds=2),
               finished_at=now, duration_ms=2000.0, execution_id="e1", final_output=5,
               limits={"max_execution_time": 30}, node_count=1, **fields)


def stored(run: Run) -> Run:
    return Run.objects.get(pk=run.pk)


def test_its_running_row_becomes_failed_with_the_reason():
    run = finished_run()
    Run.objects.create(id=run.id, status=RunStatus.RUNNING, started_at=run.started_at,
                       limits=run.limits, node_count=1)

    write_failed_outcome(run, REASON)

    row = stored(run)
    assert row.status == "failed"
    assert row.error == {"code": "database_unavailable", "node_id": None, "message": REASON}
    assert row.final_output is None
    assert row.finished_at == run.finished_at


def test_a_run_with_no_row_gets_a_failed_one():
    run = finished_run()

    write_failed_outcome(run, REASON)

    assert stored(run).status == "failed"


def test_a_success_committed_without_its_acknowledgement_is_turned_failed():
    run = finished_run()
    Run.objects.create(id=run.id, status=RunStatus.SUCCEEDED, started_at=run.started_at,
                       finished_at=run.finished_at, limits=run.limits, node_count=1,
                       final_output=5)

    write_failed_outcome(run, REASON)

    assert stored(run).status == "failed"


def test_a_row_the_reaper_finished_is_left_as_it_is():
    run = finished_run()
    Run.objects.create(id=run.id, status=RunStatus.INTERRUPTED, started_at=run.started_at,
                       finished_at=run.finished_at + timedelta(seconds=60),
                       limits=run.limits, node_count=1,
                       error={"code": "interrupted", "node_id": None, "message": "reaped"})

    write_failed_outcome(run, REASON)

    assert stored(run).status == "interrupted"
