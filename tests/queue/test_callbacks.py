"""Callbacks of queued runs: one per run whatever ended it (a worker, a cancel while
queued, the reaper, a claim-time refusal, a redelivered message), through the broker; each
delivery attempt recorded on the run and counted. Deliveries go to the loopback test
server (tests/httpserver.py) through the real egress guard."""

from __future__ import annotations

import json
import urllib.parse
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from kombu import Connection
from prometheus_client import REGISTRY

from tests.api.conftest import ADD
from tests.httpserver import LoopbackHTTPServer
from workflows import tasks
from workflows.maintenance import reap_interrupted
from workflows.models import Run, RunStatus
from workflows.recording import this_worker

pytestmark = pytest.mark.django_db

ASYNC = {"HTTP_PREFER": "respond-async"}


def sent(outcome: str) -> float:
    return REGISTRY.get_sample_value("workflow_callback_deliveries_total",
                                     {"outcome": outcome}) or 0.0


def queued_with_callback(api: Any, url: str) -> str:
    response = api.post("/api/v1/workflow/execute?callback_url=" + urllib.parse.quote(url),
                        ADD, format="json", **ASYNC)
    assert response.status_code == 202, response.json()
    return str(response.json()["id"])


def deliveries(queue: Any) -> list[list[Any]]:
    """The args of every callback delivery message on the queue (taking them all off)."""
    found = []
    with Connection(queue.url) as connection, connection.channel() as channel:
        while (message := channel.basic_get(queue.name, no_ack=True)) is not None:
            if message.headers["task"] == "thaiyyal.deliver_callback":
                found.append(json.loads(message.body)[0])
    return found


def deliver(args: list[Any]) -> None:
    """Run one delivery message here, as a worker would (retries run at once)."""
    tasks.deliver_callback.apply(args=args)


@pytest.fixture
def loopback(settings: Any) -> None:
    settings.THAIYYAL_HTTP_ALLOWED_NETWORKS = ["127.0.0.1/32"]


def test_a_callback_to_an_address_the_egress_policy_refuses_is_refused_not_retried(
        api: Any, queue: Any, http_server: LoopbackHTTPServer, settings: Any) -> None:
    settings.THAIYYAL_HTTP_ALLOWED_NETWORKS = []  # the default: private addresses refused
    settings.THAIYYAL_HTTP_ALLOWED_HOSTS = []
    run_id = queued_with_callback(api, http_server.url("/status?code=200"))
    before = sent("refused")

    deliver([run_id, http_server.url("/status?code=200"), 200, "{}"])

    run = Run.objects.get(pk=run_id)
    assert (run.callback_state, run.callback_attempts) == ("refused", 1)
    assert "127.0.0.1" in run.callback_error, run.callback_error  # the policy says why
    assert run.callback_at is not None
    assert http_server.requests == []  # not a packet sent
    assert sent("refused") == before + 1


@pytest.mark.parametrize("code", [400, 404, 410])
def test_a_4xx_answer_is_refused_after_one_attempt(
        api: Any, queue: Any, http_server: LoopbackHTTPServer, loopback: None,
        code: int) -> None:
    url = http_server.url(f"/status?code={code}")
    run_id = queued_with_callback(api, url)

    deliver([run_id, url, 200, "{}"])

    run = Run.objects.get(pk=run_id)
    assert (run.callback_state, run.callback_attempts) == ("refused", 1)
    assert run.callback_error == f"the receiver answered {code}"
    assert http_server.hits("/status") == 1


@pytest.mark.parametrize("code", [429, 501, 503, 599])
def test_a_retried_failure_is_given_up_after_the_attempts_allowed(
        api: Any, queue: Any, http_server: LoopbackHTTPServer, loopback: None,
        settings: Any, code: int) -> None:
    settings.THAIYYAL_CALLBACK_ATTEMPTS = 3
    url = http_server.url(f"/status?code={code}")
    run_id = queued_with_callback(api, url)
    retried, gave_up = sent("retried"), sent("gave_up")

    deliver([run_id, url, 200, "{}"])

    run = Run.objects.get(pk=run_id)
    assert (run.callback_state, run.callback_attempts) == ("gave_up", 3)
    assert run.callback_error == f"the receiver answered {code}"
    assert http_server.hits("/status") == 3
    assert (sent("retried"), sent("gave_up")) == (retried + 2, gave_up + 1)


def test_a_delivery_that_succeeds_after_failures_is_recorded_delivered(
        api: Any, queue: Any, http_server: LoopbackHTTPServer, loopback: None) -> None:
    url = http_server.url("/flaky?key=recorded&failures=2")
    run_id = queued_with_callback(api, url)

    deliver([run_id, url, 200, "{}"])

    run = Run.objects.get(pk=run_id)
    assert (run.callback_state, run.callback_attempts, run.callback_error) == (
        "delivered", 3, "")
    shown = api.get(f"/api/v1/runs/{run_id}").json()
    assert (shown["callback_state"], shown["callback_attempts"]) == ("delivered", 3)


def test_a_run_cancelled_while_queued_gets_its_callback(
        api: Any, queue: Any, http_server: LoopbackHTTPServer, loopback: None) -> None:
    url = http_server.url("/echo")
    run_id = queued_with_callback(api, url)

    assert api.post(f"/api/v1/runs/{run_id}/cancel").json()["status"] == "cancelled"

    assert Run.objects.get(pk=run_id).callback_state == "pending"
    (args,) = deliveries(queue)
    assert args[:3] == [run_id, url, 422]
    deliver(args)
    (post,) = [r for r in http_server.requests if r.path == "/echo"]
    answer = json.loads(post.body)
    assert (answer["success"], answer["status"], answer["details"][0]["code"]) == (
        False, "cancelled", "cancelled")
    assert post.headers["x-thaiyyal-status"] == "422"
    assert Run.objects.get(pk=run_id).callback_state == "delivered"


def test_runs_the_reaper_ends_get_their_callbacks(
        api: Any, queue: Any, settings: Any, django_capture_on_commit_callbacks: Any) -> None:
    settings.THAIYYAL_QUEUE_STALE_SECONDS = 3600
    lost = queued_with_callback(api, "http://127.0.0.1:9/lost")
    died = queued_with_callback(api, "http://127.0.0.1:9/died")
    host, _ = this_worker()
    Run.objects.filter(pk=lost).update(queued_at=timezone.now() - timedelta(hours=2))
    Run.objects.filter(pk=died).update(status=RunStatus.RUNNING, worker_host=host,
                                       worker_pid=2**22 + 1)  # above Linux's pid_max: gone
    deliveries(queue)  # the two runs' own messages

    with django_capture_on_commit_callbacks(execute=True):
        reaped = reap_interrupted()

    assert {str(run.pk): run.status for run in reaped} == {lost: "failed", died: "interrupted"}
    assert Run.objects.get(pk=lost).error["code"] == "queue_lost"
    sent_for = {args[0]: args for args in deliveries(queue)}
    assert set(sent_for) == {lost, died}
    assert json.loads(sent_for[lost][3])["details"][0]["code"] == "queue_lost"
    assert json.loads(sent_for[died][3])["details"][0]["code"] == "interrupted"
    with django_capture_on_commit_callbacks(execute=True):
        assert reap_interrupted() == []
    assert deliveries(queue) == []


def test_a_run_refused_when_a_worker_claims_it_gets_its_callback(api: Any, queue: Any) -> None:
    run_id = queued_with_callback(api, "http://127.0.0.1:9/refused")
    Run.objects.filter(pk=run_id).update(payload=None)  # nothing left to run
    deliveries(queue)

    tasks.run_here(run_id, "test-worker")

    assert Run.objects.get(pk=run_id).error["code"] == "invalid_workflow"
    (args,) = deliveries(queue)
    assert json.loads(args[3])["details"][0]["code"] == "invalid_workflow"


def test_a_worker_that_died_after_recording_a_run_leaves_its_callback_to_the_redelivery(
        api: Any, queue: Any) -> None:
    run_id = queued_with_callback(api, "http://127.0.0.1:9/redelivered")
    deliveries(queue)
    tasks.run_here(run_id, "test-worker")
    (first,) = deliveries(queue)
    assert first[2] == 200
    # the same run as a worker killed between recording it and sending its callback
    Run.objects.filter(pk=run_id).update(callback_state="")

    tasks.run_here(run_id, "test-worker")  # the redelivered message: runs nothing

    (args,) = deliveries(queue)
    assert args[2] == 200
    assert json.loads(args[3])["results"]["final_output"] == 5
    tasks.run_here(run_id, "test-worker")  # and once only
    assert deliveries(queue) == []


def test_a_run_ended_where_no_broker_is_configured_records_its_callback_given_up(
        api: Any, queue: Any, settings: Any, django_capture_on_commit_callbacks: Any) -> None:
    run_id = queued_with_callback(api, "http://127.0.0.1:9/nowhere")
    deliveries(queue)
    settings.THAIYYAL_BROKER_URL = ""  # e.g. a web server of the site started without it
    host, _ = this_worker()
    Run.objects.filter(pk=run_id).update(status=RunStatus.RUNNING, worker_host=host,
                                         worker_pid=2**22 + 1)

    with django_capture_on_commit_callbacks(execute=True):
        reap_interrupted()

    run = Run.objects.get(pk=run_id)
    assert (run.status, run.callback_state) == ("interrupted", "gave_up")
    assert "THAIYYAL_BROKER_URL" in run.callback_error
