"""A client retrying with its `Idempotency-Key` after the worker running its request was
SIGKILLed: the retry is not left at 409 and does not run the workflow again; it gets the
interrupted run's record (real gunicorn, real PostgreSQL)."""

from __future__ import annotations

import os
import signal
import time

import pytest
from django.db import connection
from rest_framework.authtoken.models import Token

from tests.platform.serving import database_url, serve, server_environment
from workflows.models import IdempotencyKey, Run

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]

LONG = {"nodes": [{"id": "start", "type": "number", "data": {"value": 1}},
                  {"id": "wait", "type": "delay", "data": {"duration": "60s"}}],
        "edges": [{"source": "start", "target": "wait"}]}
KEY = {"Idempotency-Key": "retry-after-kill"}


@pytest.fixture
def server(tmp_path):
    env = server_environment(database_url(connection.settings_dict), tmp_path / "var")
    with serve(env, tmp_path / "server.log", "--workers", "2",
               "--max-execution-time", "90s") as running:
        yield running


def test_a_retry_after_the_worker_was_killed_gets_the_interrupted_run(server, admin_user):
    token = Token.objects.create(user=admin_user).key

    run, client = server.start_run_to_kill(token, LONG, headers=KEY)
    assert IdempotencyKey.objects.get().run_id == run.pk
    while_running = server.request("POST", "/api/v1/workflow/execute", token, LONG,
                                   headers=KEY)
    os.kill(run.worker_pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while run.status == "running" and time.monotonic() < deadline:
        time.sleep(0.1)
        run.refresh_from_db()
    client.join(timeout=10)

    status, body = server.request("POST", "/api/v1/workflow/execute", token, LONG,
                                  headers=KEY)
    again = server.request("POST", "/api/v1/workflow/execute", token, LONG, headers=KEY)

    assert while_running[0] == 409
    assert while_running[1]["run_id"] == str(run.pk)
    assert run.status == "interrupted"
    assert status == 422, body
    assert (body["run_id"], body["status"]) == (str(run.pk), "interrupted")
    assert body["error"] == run.error["message"]
    assert again == (status, body)
    assert Run.objects.count() == 1
