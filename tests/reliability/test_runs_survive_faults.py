"""Nothing stays `running` forever, and no run is recorded `succeeded` unless its client
got a 200 (issue 9, items 1 and 5), with real faults: PostgreSQL cut mid-run and at the
end of a run, workers SIGKILLed mid-run. The server corrects its records by itself: no
command is run."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import uuid
from datetime import UTC, datetime

import psycopg
import pytest
from psycopg.types.json import Jsonb

from tests.observability.liveserver import wait_for, worker_pids

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


def sleeper(seconds: float) -> dict:
    """A run that takes `seconds` and then succeeds (its running row is committed at once)."""
    return {"nodes": [{"id": "wait", "type": "delay", "data": {"duration": f"{seconds}s"}}],
            "edges": []}


class Call(threading.Thread):
    """A request in the background: its status, body and how long it took."""

    def __init__(self, server, payload, path="/api/v1/workflow/execute") -> None:
        super().__init__(daemon=True)
        self.server, self.payload, self.path = server, payload, path
        self.status: int | str | None = None
        self.body: bytes = b""
        self.headers: dict[str, str] = {}
        self.ended = 0.0
        self.start()

    def run(self) -> None:
        try:
            self.status, self.body, self.headers = self.server.request(
                "POST", self.path, self.payload, timeout=60)
        except Exception as exc:  # noqa: BLE001 - a killed worker drops the connection
            self.status = type(exc).__name__
        self.ended = time.monotonic()


def _running_run(database, since, timeout=10.0) -> str:
    def find():
        ids = database.latest_run_ids(since)
        return ids[-1] if ids and database.run(ids[-1])["status"] == "running" else None
    return wait_for(find, timeout, "the run's `running` row")


def test_a_short_cut_mid_run_still_answers_200_and_records_it(proxied_server, db_proxy,
                                                              database):
    since = datetime.now(UTC)
    call = Call(proxied_server, sleeper(4))
    run_id = _running_run(database, since)
    db_proxy.cut("refuse")
    time.sleep(1)
    db_proxy.restore()
    call.join(30)

    assert call.status == 200, call.body[:300]
    assert json.loads(call.body)["run_id"] == run_id
    run = database.run(run_id)
    assert run["status"] == "succeeded"
    assert run["node_runs"] == 1


@pytest.mark.parametrize("mode", ["refuse", "hang"])
def test_a_run_ending_while_the_database_is_away_is_a_quick_503_and_corrected_later(
        proxied_server, db_proxy, database, mode):
    since = datetime.now(UTC)
    call = Call(proxied_server, sleeper(3))
    run_id = _running_run(database, since)
    db_proxy.cut(mode)
    run_ends = time.monotonic() + 3
    call.join(30)

    # The client is told, soon after the run ends, that its outcome is not known.
    assert call.status == 503, call.body[:300]
    assert call.headers["Retry-After"]
    assert call.ended - run_ends < 3.5, call.ended - run_ends
    print(f"\n503 came {call.ended - run_ends:.1f}s after the run ended ({mode})")
    assert database.run(run_id)["status"] == "running"  # nothing could be written

    db_proxy.restore()
    back = time.monotonic()
    run = wait_for(lambda: (r := database.run(run_id))["status"] != "running" and r, 15,
                   "the worker to write the run's outcome")
    print(f"\ncut run corrected {time.monotonic() - back:.1f}s after the database returned")
    assert run["status"] == "failed"
    assert run["error"]["code"] == "database_unavailable"
    assert "503" in run["error"]["message"]


def test_a_killed_worker_s_run_is_marked_interrupted_by_the_server_itself(proxied_server,
                                                                          database):
    since = datetime.now(UTC)
    call = Call(proxied_server, sleeper(30))
    run_id = _running_run(database, since)
    # The worker serving the run: the one whose pid the row names.
    with psycopg.connect(database.url, autocommit=True) as conn:
        (pid,) = conn.execute("SELECT worker_pid FROM workflows_run WHERE id = %s",
                              [run_id]).fetchone()
    assert pid in worker_pids(proxied_server.master_pid)
    os.kill(pid, signal.SIGKILL)
    killed = time.monotonic()
    call.join(30)

    run = wait_for(lambda: (r := database.run(run_id))["status"] != "running" and r, 10,
                   "the server's reaper to mark the run")
    print(f"\nkilled worker's run marked {time.monotonic() - killed:.1f}s after the kill")
    assert run["status"] == "interrupted"
    assert "stopped before the run finished" in run["error"]["message"]
    assert call.status != 200


def test_a_run_abandoned_on_another_host_is_reaped_after_its_limit_and_grace(proxied_server,
                                                                          database):
    """A pod that is gone for good: its run row names a host this server cannot check, so
    the time limit plus the grace (3 s here) decides. Written after the server started:
    no boot-time reap sees it."""
    run_id = uuid.uuid4()
    with psycopg.connect(database.url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO workflows_run (id, status, started_at, limits, node_count, "
            "worker_host, worker_pid, execution_id, duration_ms) "
            "VALUES (%s, 'running', now() - interval '2 seconds', %s, 1, 'gone-pod', 1, '', "
            "NULL)", [run_id, Jsonb({"max_execution_time": 1})])
    written = time.monotonic()

    run = wait_for(lambda: (r := database.run(run_id))["status"] != "running" and r, 15,
                   "the server's reaper to mark the run")
    # limit 1 s + grace 3 s from a start 2 s ago: due 2 s after the insert.
    took = time.monotonic() - written
    assert took < 2 + 1.5, took
    assert run["status"] == "interrupted"
    assert "did not finish the run within its time limit" in run["error"]["message"]
