"""`Prefer: respond-async` and `execution_mode` on the execute endpoints: 202, Location and
the queued run, its message on the broker; 503 naming THAIYYAL_BROKER_URL without one.
The run itself is executed here through services.execute_queued, as a worker does."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import ADD
from workflows import services
from workflows.api.responses import encoded_execution
from workflows.models import NodeRun, Run, RunStatus

pytestmark = pytest.mark.django_db

ASYNC = {"HTTP_PREFER": "respond-async"}


def test_async_execute_without_a_broker_answers_503_naming_the_setting(api: Any,
                                                                         settings: Any) -> None:
    settings.THAIYYAL_BROKER_URL = ""
    response = api.post("/api/v1/workflow/execute", ADD, format="json", **ASYNC)
    assert response.status_code == 503
    assert response.json()["success"] is False
    assert "THAIYYAL_BROKER_URL" in response.json()["error"]
    assert not Run.objects.exists()
    # everything else works as before
    assert api.post("/api/v1/workflow/execute", ADD, format="json").status_code == 200


def test_async_execute_answers_202_with_location_and_the_queued_run(api: Any, queue: Any) -> None:
    response = api.post("/api/v1/workflow/execute", ADD, format="json", **ASYNC)
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "queued"
    assert response["Location"] == f"/api/v1/runs/{body['id']}"
    assert response["Preference-Applied"] == "respond-async"
    assert Run.objects.get(pk=body["id"]).status == RunStatus.QUEUED
    assert queue.depth() == 1
    assert api.get(response["Location"]).json()["status"] == "queued"


@pytest.mark.parametrize("path", [
    "/api/v1/workflow/execute", "/api/v1/workflows/{id}/execute",
    "/api/v1/workflows/{id}/versions/1/execute", "/api/v1/workflow/execute/{id}"])
def test_every_execute_endpoint_queues_with_prefer_respond_async(
        api: Any, greeting: Any, queue: Any, path: str) -> None:
    adhoc = "{id}" not in path
    body = ADD if adhoc else {"inputs": {"name": "every"}}

    response = api.post(path.format(id=greeting.pk), body, format="json", **ASYNC)

    assert response.status_code == 202, response.json()
    run = Run.objects.get()
    assert response["Location"] == f"/api/v1/runs/{run.pk}"
    assert (run.status, run.trigger) == (RunStatus.QUEUED, "api")
    assert run.requested_by == greeting.owner
    assert run.version_id == (None if adhoc else greeting.current_version_id)
    assert queue.depth() == 1
    services.execute_queued(run.pk, answer=encoded_execution)
    assert Run.objects.get(pk=run.pk).status == RunStatus.SUCCEEDED


def test_a_queued_run_executes_once_and_records_what_a_sync_run_would(api: Any,
                                                                      queue: Any) -> None:
    run_id = api.post("/api/v1/workflow/execute", ADD, format="json", **ASYNC).json()["id"]
    execution = services.execute_queued(run_id, answer=encoded_execution)
    assert execution is not None
    assert execution.answer.status_code == 200
    run = api.get(f"/api/v1/runs/{run_id}").json()
    assert run["status"] == "succeeded"
    assert run["final_output"] == 5
    assert [n["node_id"] for n in run["node_runs"]] == ["a", "b", "sum"]
    # a redelivered message finds the run started: nothing runs again
    assert services.execute_queued(run_id, answer=encoded_execution) is None
    assert NodeRun.objects.filter(run_id=run_id).count() == 3


def test_a_stored_workflow_in_async_mode_is_queued_without_asking(api: Any, greeting: Any,
                                                                 queue: Any) -> None:
    patched = api.patch(f"/api/v1/workflows/{greeting.pk}", {"execution_mode": "async"},
                        format="json")
    assert patched.status_code == 200, patched.json()
    assert patched.json()["execution_mode"] == "async"
    response = api.post(f"/api/v1/workflows/{greeting.pk}/execute",
                        {"inputs": {"name": "queue"}}, format="json")
    assert response.status_code == 202
    run_id = response.json()["id"]
    services.execute_queued(run_id, answer=encoded_execution)
    run = Run.objects.get(pk=run_id)
    assert run.status == RunStatus.SUCCEEDED
    assert run.inputs == {"name": "queue"}
    assert run.version_id == greeting.current_version_id


def test_auto_mode_queues_only_runs_longer_than_the_web_tier_allows(
        api: Any, greeting: Any, queue: Any, settings: Any) -> None:
    settings.THAIYYAL_WEB_MAX_EXECUTION_TIME = 5.0
    api.patch(f"/api/v1/workflows/{greeting.pk}", {"execution_mode": "auto"}, format="json")
    url = f"/api/v1/workflows/{greeting.pk}/execute"
    assert api.post(url + "?max_execution_time=5s", {}, format="json").status_code == 200
    assert api.post(url, {}, format="json").status_code == 202  # the server's 30 s


def test_bad_inputs_of_an_async_run_are_refused_before_queueing(api: Any, greeting: Any,
                                                                 queue: Any) -> None:
    response = api.post(f"/api/v1/workflows/{greeting.pk}/execute",
                        {"inputs": {"nope": 1}}, format="json", **ASYNC)
    assert response.status_code == 400
    assert response.json()["details"][0]["path"] == "$.inputs.nope"
    assert not Run.objects.exists()
    assert queue.depth() == 0


def test_callback_url_needs_an_async_run_and_an_http_url(api: Any, greeting: Any,
                                                          queue: Any) -> None:
    url = f"/api/v1/workflows/{greeting.pk}/execute"
    sync = api.post(url, {"callback_url": "http://127.0.0.1:9/x"}, format="json")
    assert sync.status_code == 400
    assert sync.json()["details"][0]["path"] == "$.callback_url"
    bad = api.post(url, {"callback_url": "ftp://127.0.0.1/x"}, format="json", **ASYNC)
    assert bad.status_code == 400
    good = api.post(url, {"callback_url": "http://127.0.0.1:9/x"}, format="json", **ASYNC)
    assert good.status_code == 202
    assert good.json()["callback_url"] == "http://127.0.0.1:9/x"


def test_an_idempotent_async_request_is_queued_once_and_replayed(api: Any, queue: Any) -> None:
    headers = {**ASYNC, "HTTP_IDEMPOTENCY_KEY": "queue-key-1"}
    first = api.post("/api/v1/workflow/execute", ADD, format="json", **headers)
    again = api.post("/api/v1/workflow/execute", ADD, format="json", **headers)
    assert first.status_code == again.status_code == 202
    assert again["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert again["Location"] == first["Location"]
    assert Run.objects.count() == 1
    assert queue.depth() == 1


def test_cancelling_a_queued_run_means_it_never_runs(api: Any, queue: Any) -> None:
    run_id = api.post("/api/v1/workflow/execute", ADD, format="json", **ASYNC).json()["id"]
    response = api.post(f"/api/v1/runs/{run_id}/cancel")
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert response.json()["error"]["code"] == "cancelled"
    assert services.execute_queued(run_id, answer=encoded_execution) is None
    assert Run.objects.get(pk=run_id).status == RunStatus.CANCELLED
    again = api.post(f"/api/v1/runs/{run_id}/cancel")
    assert again.status_code == 409
    assert "already ended" in again.json()["error"]


def test_only_the_runs_owner_or_staff_may_cancel_it(api: Any, queue: Any, other_user: Any) -> None:
    from rest_framework.test import APIClient

    run_id = api.post("/api/v1/workflow/execute", ADD, format="json", **ASYNC).json()["id"]
    other = APIClient()
    other.force_authenticate(other_user)
    assert other.post(f"/api/v1/runs/{run_id}/cancel").status_code == 404
    assert Run.objects.get(pk=run_id).status == RunStatus.QUEUED


def test_an_unreachable_broker_answers_503_and_records_the_run_failed(
        api: Any, queue: Any, settings: Any) -> None:
    from thaiyyal.celeryconf import app

    saved = app.conf.broker_url
    use_broker(app, "amqp://guest:guest@127.0.0.1:9//")  # nothing listens there
    try:
        response = api.post("/api/v1/workflow/execute", ADD, format="json", **ASYNC)
    finally:
        use_broker(app, saved)
    assert response.status_code == 503
    assert "THAIYYAL_BROKER_URL" in response.json()["error"]
    run = Run.objects.get()
    assert run.status == RunStatus.FAILED
    assert run.error["code"] == "queue_unavailable"


def test_the_message_carries_a_hard_time_limit_of_the_runs_limit_plus_grace(
        api: Any, queue: Any, settings: Any) -> None:
    from kombu import Connection

    settings.THAIYYAL_QUEUE_GRACE_SECONDS = 7
    run_id = api.post("/api/v1/workflow/execute?max_execution_time=5s", ADD, format="json",
                      **ASYNC).json()["id"]
    with Connection(queue.url) as connection, connection.channel() as channel:
        message = channel.basic_get(queue.name, no_ack=True)
    assert message is not None
    assert message.headers["id"] == run_id, (message.headers, message.body[:300])
    assert message.headers["task"] == "thaiyyal.execute_run"
    hard, soft = message.headers["timelimit"]  # Celery's order
    assert (hard, soft) == (12.0, None)  # the engine stops it at 5 s; Celery kills at 5 + 7


def use_broker(app: Any, url: str) -> None:
    """Point the app's publisher at `url`: its connection pools were made for the old one
    (kombu keeps them in a process-wide registry, reset too)."""
    from kombu import pools

    app.conf.broker_url = url
    app._pool = None
    app.amqp._producer_pool = None
    pools.reset()


def test_queued_runs_count_against_the_runs_in_flight_cap_until_they_end(
        api: Any, queue: Any, settings: Any, other_user: Any) -> None:
    from rest_framework.test import APIClient

    settings.THAIYYAL_MAX_RUNS_IN_FLIGHT = 2
    queued = [api.post("/api/v1/workflow/execute", ADD, format="json", **ASYNC)
              for _ in range(2)]
    assert [r.status_code for r in queued] == [202, 202]

    # The cap is full of queued runs: a third is refused before anything is written or sent,
    # and so is a synchronous run (which counts them without asking the database).
    third = api.post("/api/v1/workflow/execute", ADD, format="json", **ASYNC)
    assert third.status_code == 429, third.content
    assert third["Retry-After"] == "1"
    assert "at most 2 at once" in third.json()["error"]
    assert api.post("/api/v1/workflow/execute", ADD, format="json").status_code == 429
    assert (Run.objects.count(), queue.depth()) == (2, 2)
    someone_else = APIClient()
    someone_else.force_authenticate(other_user)
    assert someone_else.post("/api/v1/workflow/execute", ADD, format="json",
                             **ASYNC).status_code == 202

    # A worker takes one message off the broker and runs it: one slot is free again.
    first = queue.run_next()
    assert first == queued[0].json()["id"]
    assert Run.objects.get(pk=first).status == RunStatus.SUCCEEDED
    assert api.post("/api/v1/workflow/execute", ADD, format="json").status_code == 200
    again = api.post("/api/v1/workflow/execute", ADD, format="json", **ASYNC)
    assert again.status_code == 202
    assert api.post("/api/v1/workflow/execute", ADD, format="json",
                    **ASYNC).status_code == 429

    # Cancelling a queued run frees its slot too.
    assert api.post(f"/api/v1/runs/{again.json()['id']}/cancel").status_code == 200
    assert api.post("/api/v1/workflow/execute", ADD, format="json", **ASYNC).status_code == 202

