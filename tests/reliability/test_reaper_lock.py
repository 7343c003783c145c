"""Two reapers at once do not fight (issue 9, item 5): the server's reaper takes a
PostgreSQL advisory lock, so while one reaps the others skip their turn, and every
abandoned run is marked exactly once."""

from __future__ import annotations

import threading
from datetime import timedelta

import psycopg
import pytest
from django.db import connection, connections, transaction
from django.utils import timezone

from workflows.maintenance import REAPER_LOCK_KEY, reap_interval, reap_once
from workflows.models import Run, RunStatus

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("the reaper's lock is PostgreSQL's advisory lock")


def abandoned_runs(n: int) -> list[Run]:
    """Runs started an hour ago on a host that is gone, with a 1 s time limit."""
    started = timezone.now() - timedelta(hours=1)
    return Run.objects.bulk_create(
        Run(status=RunStatus.RUNNING, started_at=started, limits={"max_execution_time": 1},
            worker_host="gone-pod", worker_pid=1) for _ in range(n))


def other_session() -> psycopg.Connection:
    params = connection.get_connection_params()
    params.pop("pool", None)
    params.pop("server_side_binding", None)
    return psycopg.connect(**params, autocommit=True)


def test_a_reaper_skips_its_turn_while_another_holds_the_lock():
    runs = abandoned_runs(3)
    with other_session() as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", [REAPER_LOCK_KEY])

        assert reap_once(grace_seconds=0) is None
        assert Run.objects.filter(status=RunStatus.RUNNING).count() == 3

        holder.execute("SELECT pg_advisory_unlock(%s)", [REAPER_LOCK_KEY])
    reaped = reap_once(grace_seconds=0)

    assert {r.pk for r in reaped} == {r.pk for r in runs}
    assert Run.objects.filter(status=RunStatus.INTERRUPTED).count() == 3


def test_concurrent_reapers_mark_each_run_once_and_take_turns():
    """Three reapers (the pool's 4 connections less the test's own) whose transactions
    all stay open until each has had its go: with the lock, one reaps everything and the
    other two skip their turn (None). Without it,
    the others would reap too (or wait on the first one's rows, and the barrier breaks):
    the conditional UPDATE alone marks each run once but does not make them take turns."""
    runs = abandoned_runs(40)
    start, all_tried = threading.Barrier(3), threading.Barrier(3, timeout=15)
    outcomes: list[list[Run] | None | BaseException] = []

    def reap() -> None:
        start.wait()
        try:
            with transaction.atomic():  # holds the transaction-scoped lock until the end
                outcomes.append(reap_once(grace_seconds=0))
                all_tried.wait()
        except BaseException as exc:  # noqa: BLE001 - reported below
            outcomes.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=reap) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert not [o for o in outcomes if isinstance(o, BaseException)], outcomes
    assert sorted(o is None for o in outcomes) == [False, True, True], outcomes
    reaped = [run.pk for o in outcomes if o for run in o]
    assert sorted(map(str, reaped)) == sorted(str(r.pk) for r in runs)  # each once
    assert Run.objects.filter(status=RunStatus.INTERRUPTED).count() == 40


def test_the_reap_interval_is_at_most_half_the_grace(settings):
    settings.THAIYYAL_REAP_INTERVAL_SECONDS = 10
    assert reap_interval(60) == 10
    assert reap_interval(4) == 2
