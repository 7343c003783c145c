"""Reaping runs left by dead workers, and pruning history by age and count."""

from __future__ import annotations

import os
import subprocess
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from tests.api.conftest import ADD
from workflows import services
from workflows.models import NodeRun, Run
from workflows.recording import this_worker

pytestmark = pytest.mark.django_db


def dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def running(host: str, pid: int, age: timedelta = timedelta(0), limit: float = 30.0) -> Run:
    return Run.objects.create(status="running", started_at=timezone.now() - age,
                              worker_host=host, worker_pid=pid,
                              limits={"max_execution_time": limit})


def test_run_of_a_dead_worker_on_this_host_is_interrupted():
    host, pid = this_worker()
    orphan = running(host, dead_pid())
    alive = running(host, pid)

    out = StringIO()
    call_command("reap_runs", stdout=out)

    orphan.refresh_from_db()
    alive.refresh_from_db()
    assert orphan.status == "interrupted"
    assert orphan.finished_at is not None
    assert orphan.error["code"] == "interrupted"
    assert "stopped before the run finished" in orphan.error["message"]
    assert alive.status == "running"
    assert "1 run(s) marked interrupted" in out.getvalue()


def test_run_on_another_host_is_interrupted_only_past_its_limit_and_grace():
    stale = running("gone-pod", 1, age=timedelta(seconds=30 + 61))
    recent = running("other-pod", 1, age=timedelta(seconds=30 + 59))

    call_command("reap_runs", stdout=StringIO())

    assert Run.objects.get(pk=stale.pk).status == "interrupted"
    assert Run.objects.get(pk=recent.pk).status == "running"
    call_command("reap_runs", "--grace", "0", stdout=StringIO())
    assert Run.objects.get(pk=recent.pk).status == "interrupted"


def test_finished_runs_are_never_reaped(admin_user):
    run_id = services.execute_payload(ADD, user=admin_user).run_id
    Run.objects.filter(pk=run_id).update(worker_pid=dead_pid())

    call_command("reap_runs", stdout=StringIO())

    assert Run.objects.get(pk=run_id).status == "succeeded"


def queued(age: timedelta) -> Run:
    at = timezone.now() - age
    return Run.objects.create(status="queued", started_at=at, queued_at=at, payload=ADD)


def test_a_queued_run_no_worker_took_within_the_stale_age_is_marked_failed(settings):
    settings.THAIYYAL_QUEUE_STALE_SECONDS = 3600
    lost = queued(timedelta(seconds=3601))
    waiting = queued(timedelta(seconds=3599))

    out = StringIO()
    call_command("reap_runs", stdout=out)

    lost.refresh_from_db()
    assert (lost.status, lost.error["code"]) == ("failed", "queue_lost")
    assert lost.finished_at is not None
    assert "within 3600s" in lost.error["message"]
    assert Run.objects.get(pk=waiting.pk).status == "queued"
    assert "1 queued run(s) no worker took marked failed" in out.getvalue()
    # its message turning up after all runs nothing
    assert services.execute_queued(lost.pk) is None
    assert Run.objects.get(pk=lost.pk).status == "failed"


def test_queued_runs_are_reaped_only_after_a_day_by_default_and_never_with_0(settings):
    assert settings.THAIYYAL_QUEUE_STALE_SECONDS == 86400
    backlog = queued(timedelta(hours=23))
    call_command("reap_runs", stdout=StringIO())
    assert Run.objects.get(pk=backlog.pk).status == "queued"

    settings.THAIYYAL_QUEUE_STALE_SECONDS = 0
    old = queued(timedelta(days=30))
    call_command("reap_runs", stdout=StringIO())
    assert Run.objects.get(pk=old.pk).status == "queued"


def aged_runs(user, count: int, days: int, workflow=None) -> list:
    ids = []
    for _ in range(count):
        if workflow is None:
            ids.append(services.execute_payload(ADD, user=user).run_id)
        else:
            ids.append(services.execute_version(workflow.current_version, user=user).run_id)
    Run.objects.filter(pk__in=ids).update(started_at=timezone.now() - timedelta(days=days))
    return ids


def test_prune_by_age_deletes_old_runs_and_their_node_runs_in_chunks(admin_user):
    old = aged_runs(admin_user, 5, days=40)
    new = aged_runs(admin_user, 2, days=1)
    left_running = running("h", 1, age=timedelta(days=90))

    out = StringIO()
    call_command("prune_runs", "--days", "30", "--chunk-size", "2", stdout=out)

    assert set(Run.objects.values_list("pk", flat=True)) == {*new, left_running.pk}
    assert not NodeRun.objects.filter(run_id__in=old).exists()
    assert "5 run(s) deleted" in out.getvalue()


def test_prune_keeps_the_newest_runs_of_each_workflow(admin_user, greeting):
    adhoc_old, adhoc_new = aged_runs(admin_user, 3, days=3), aged_runs(admin_user, 2, days=1)
    stored_old = aged_runs(admin_user, 2, days=2, workflow=greeting)
    stored_new = aged_runs(admin_user, 2, days=1, workflow=greeting)

    call_command("prune_runs", "--keep", "2", "--chunk-size", "1", stdout=StringIO())

    assert set(Run.objects.values_list("pk", flat=True)) == {*adhoc_new, *stored_new}
    assert not Run.objects.filter(pk__in=[*adhoc_old, *stored_old]).exists()


def test_prune_never_deletes_a_queued_run_however_old_or_many(admin_user):
    ended = aged_runs(admin_user, 2, days=40)
    waiting = [Run.objects.create(status="queued", started_at=timezone.now() - timedelta(days=40),
                                  queued_at=timezone.now() - timedelta(days=40))
               for _ in range(3)]

    call_command("prune_runs", "--days", "30", stdout=StringIO())
    call_command("prune_runs", "--keep", "1", stdout=StringIO())

    assert not Run.objects.filter(pk__in=ended).exists()
    assert set(Run.objects.values_list("pk", flat=True)) == {run.pk for run in waiting}


def test_prune_needs_a_rule():
    with pytest.raises(CommandError, match="--days"):
        call_command("prune_runs", stdout=StringIO())


def test_a_process_that_exited_but_was_not_collected_counts_as_dead():
    """A queue worker's pool process SIGKILLed a moment ago is a zombie until its parent
    collects it: its run is reaped at once, not after the parent gets round to it."""
    import subprocess
    import time
    from pathlib import Path

    from workflows.maintenance import pid_alive

    child = subprocess.Popen(["sleep", "0"])
    stat = Path(f"/proc/{child.pid}/stat")
    deadline = time.monotonic() + 5
    while stat.read_bytes().rsplit(b")", 1)[1].split()[0] != b"Z":  # exited, not collected
        assert time.monotonic() < deadline
        time.sleep(0.01)
    try:
        assert not pid_alive(child.pid)
    finally:
        child.wait()
    assert pid_alive(os.getpid())
