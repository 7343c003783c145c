"""How runs are written: once at the end for short runs; a committed `running` row first
for runs that take longer than THAIYYAL_RUNNING_ROW_AFTER_MS."""

from __future__ import annotations

import math
import threading
import time

import pytest
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext

from tests.api.conftest import ADD
from workflows import recording, services
from workflows.models import NodeRun, Run
from workflows.recording import RunRecorder, capped_json

SLOW = {"nodes": [{"id": "start", "type": "number", "data": {"value": 7}},
                  {"id": "wait", "type": "delay", "data": {"duration": "400ms"}}],
        "edges": [{"source": "start", "target": "wait"}]}


@pytest.mark.django_db
def test_short_run_is_written_once_in_one_transaction(admin_user):
    with CaptureQueriesContext(connection) as capture:
        execution = services.execute_payload(ADD, user=admin_user)

    writes = [q["sql"] for q in capture.captured_queries
              if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE"))]
    assert len(writes) == 2  # the run, then its node runs in one bulk insert
    assert writes[0].lstrip().upper().startswith('INSERT INTO "WORKFLOWS_RUN"')
    assert 'INSERT INTO "WORKFLOWS_NODERUN"' in writes[1].upper()
    assert Run.objects.get().status == "succeeded"
    assert NodeRun.objects.filter(run_id=execution.run_id).count() == 3


@pytest.mark.django_db(transaction=True)
def test_long_run_is_visible_as_running_while_it_runs(admin_user, settings):
    settings.THAIYYAL_RUNNING_ROW_AFTER_MS = 30
    done = {}

    def run() -> None:
        try:
            done["execution"] = services.execute_payload(SLOW, user=admin_user)
        finally:
            connections.close_all()

    worker = threading.Thread(target=run)
    worker.start()
    seen = None
    deadline = time.monotonic() + 5
    while seen is None and time.monotonic() < deadline:
        seen = Run.objects.filter(status="running").first()
        time.sleep(0.01)
    worker.join(timeout=10)

    assert seen is not None, "the running row was never committed"
    assert (seen.worker_pid, seen.node_count, seen.finished_at) == (
        __import__("os").getpid(), 2, None)
    final = Run.objects.get()
    assert final.pk == seen.pk == done["execution"].run_id
    assert final.status == "succeeded"
    assert final.duration_ms >= 400
    assert final.final_output == {"value": 7, "duration": "400ms", "delayed": True}
    assert NodeRun.objects.filter(run=final).count() == 2


@pytest.mark.django_db(transaction=True)
def test_run_refused_for_bad_inputs_leaves_no_row_even_after_the_timer(admin_user, settings,
                                                                        greeting):
    settings.THAIYYAL_RUNNING_ROW_AFTER_MS = 0

    with pytest.raises(services.PayloadError):
        services.execute_version(greeting.current_version, user=admin_user,
                                 inputs={"nope": 1})

    time.sleep(0.05)
    assert not Run.objects.exists()


def test_the_running_row_timer_does_not_wake_for_each_run_that_has_ended():
    """Most runs end long before their running row is due. The timer forgets those at the
    head of its queue when it wakes, so 60 such runs cost it two or three wakes (the
    first schedule, then the first one's time), not one per run (62 before)."""
    timer = recording._Timer()
    recorders = [RunRecorder(Run(), 40) for _ in range(60)]
    for i, recorder in enumerate(recorders):
        timer.schedule(0.04 + i * 0.001, recorder)
    for recorder in recorders:
        recorder.discard()  # ended: not inserted, so nothing to delete
    time.sleep(0.2)  # every run's time has passed
    assert timer.wakes <= 5, timer.wakes
    assert not timer._heap


def test_small_output_is_stored_as_is():
    assert capped_json({"a": [1, 2]}, 100) == ({"a": [1, 2]}, False)


def test_large_output_becomes_a_preview_with_its_size():
    value, cut = capped_json(list(range(1000)), 10)
    assert cut is True
    assert value == {"preview": "[0,1,2,3,4", "size": len(str(list(range(1000))).replace(" ", ""))}


def test_values_json_cannot_hold_are_stored_as_text():
    value, cut = capped_json({"x": math.inf, "y": [math.nan], "z": object}, 1000)
    assert cut is False
    assert value["x"] == "inf"
    assert value["y"] == ["nan"]
    assert value["z"].startswith("<class")
