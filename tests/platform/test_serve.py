"""`thaiyyal serve` for real: gunicorn with 2 workers on a free loopback port, on the
test database. A worker killed mid-run leaves a run the reaper marks `interrupted`."""

from __future__ import annotations

import os
import signal
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from django.db import connection
from rest_framework.authtoken.models import Token

from tests.api.conftest import ADD
from tests.platform.serving import (
    database_url,
    serve,
    server_environment,
    worker_pids,
)
from workflows.maintenance import pid_alive
from workflows.models import NodeRun, Run

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]

LONG = {"nodes": [{"id": "start", "type": "number", "data": {"value": 1}},
                  {"id": "wait", "type": "delay", "data": {"duration": "60s"}}],
        "edges": [{"source": "start", "target": "wait"}]}


@pytest.fixture
def token(admin_user) -> str:
    return Token.objects.create(user=admin_user).key


@pytest.fixture
def server(tmp_path):
    env = server_environment(database_url(connection.settings_dict), tmp_path / "var")
    with serve(env, tmp_path / "server.log", "--workers", "2",
               "--max-execution-time", "90s") as running:
        yield running


def test_serve_executes_a_workflow_over_http_and_records_it(server, token):
    status, body = server.request("POST", "/api/v1/workflow/execute", token, ADD)

    assert status == 200, body
    assert body["results"]["final_output"] == 5
    run = Run.objects.get(pk=body["run_id"])
    assert run.status == "succeeded"
    assert run.worker_pid in worker_pids(server.process.pid)
    assert run.limits["max_execution_time"] == 90.0
    assert NodeRun.objects.filter(run=run).count() == 3
    status, detail = server.request("GET", f"/api/v1/runs/{run.pk}", token)
    assert (status, detail["status"]) == (200, "succeeded")
    assert "Booting worker" in server.output()
    assert "objects of the loaded app frozen out of the garbage collector" in server.output()


def wait_until_not_running(run: Any, timeout: float = 30) -> None:
    """Poll the run's row until it leaves `running` (or `timeout` passes)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run.refresh_from_db()
        if run.status != "running":
            return
        time.sleep(0.1)


def test_worker_killed_mid_run_leaves_an_interrupted_run(server, token):
    run, client = server.start_run_to_kill(token, LONG)
    assert run.worker_pid in worker_pids(server.process.pid)

    os.kill(run.worker_pid, signal.SIGKILL)

    # The master starts a replacement worker, which reaps the dead one's runs as it boots.
    wait_until_not_running(run)
    assert run.status == "interrupted"
    assert str(run.worker_pid) in run.error["message"]
    assert not pid_alive(run.worker_pid)
    client.join(timeout=10)
    status, _ = server.request("POST", "/api/v1/workflow/execute", token, ADD)
    assert status == 200  # the server carries on


#: pure-Python CPU work, no I/O: two maps of a 1,600-term sum over 10,000 items (about 3 s
#: each here). The worker's thread that commits the `running` row must still get its turn.
SUM = "sum(" + ", ".join(["item"] * 1_600) + ")"
CPU_BOUND = {"nodes": [{"id": "r", "type": "range", "data": {"start": 1, "end": 10_000}},
                       {"id": "m1", "type": "map", "data": {"expression": SUM}},
                       {"id": "m2", "type": "map", "data": {"expression": SUM}}],
             "edges": [{"source": "r", "target": "m1"}, {"source": "m1", "target": "m2"}]}


def test_a_cpu_bound_run_gets_its_running_row_on_time_and_is_interrupted_when_killed(
        server, token):
    started = time.monotonic()
    run, client = server.start_run_to_kill(token, CPU_BOUND)
    seen = datetime.now(UTC)
    to_row = (seen - run.started_at).total_seconds()  # one host, one clock
    print(f"\ncpu-bound run: running row seen {to_row * 1000:.0f} ms after the run started, "
          f"{(time.monotonic() - started) * 1000:.0f} ms after the request")
    # 50 ms of delay plus the test's 50 ms polling; the run itself lasts seconds, so a row
    # written only at its end would be seen seconds late.
    assert to_row < 0.5, to_row
    run.refresh_from_db()
    assert run.status == "running"  # still computing when the worker dies

    os.kill(run.worker_pid, signal.SIGKILL)

    wait_until_not_running(run)
    assert run.status == "interrupted"
    assert str(run.worker_pid) in run.error["message"]
    client.join(timeout=10)
