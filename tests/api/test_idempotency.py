"""`Idempotency-Key` on every execute endpoint: a retry with the same key gets the first
answer back, byte for byte, without running again (a loopback server counts the calls
an http node makes); 409 while the first runs; 422 for the key reused on another
request; 400 for a bad key; a key whose worker died is answered from its run's record."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connections
from django.utils import timezone

from tests.api.conftest import token_client
from workflows import maintenance, services
from workflows.api.idempotent import fingerprint
from workflows.idempotency import Claim, claim
from workflows.models import IdempotencyKey, NodeRun, Run, RunStatus

HEADER = "HTTP_IDEMPOTENCY_KEY"
ADHOC = "/api/v1/workflow/execute"


def counting(http_server: Any, delay: str | None = None) -> dict[str, Any]:
    """Calls the loopback server's /count (the side effect), then waits `delay`, then
    answers {"hits": n}: a second execution would answer n + 1."""
    nodes: list[dict[str, Any]] = [
        {"id": "call", "type": "http", "data": {"url": http_server.url("/count")}}]
    edges = []
    if delay:
        nodes.append({"id": "wait", "type": "delay", "data": {"duration": delay}})
        edges.append({"source": "call", "target": "wait"})
    return {"nodes": nodes, "edges": edges}


@pytest.fixture(autouse=True)
def _loopback_allowed(settings: Any) -> None:
    settings.THAIYYAL_HTTP_ALLOWED_NETWORKS = ["127.0.0.1/32"]


@pytest.fixture
def counter(user: Any, http_server: Any) -> Any:
    return services.create_workflow(owner=user, name="Counter",
                                    definition=counting(http_server))


def endpoints(counter: Any, http_server: Any) -> dict[str, tuple[str, Any]]:
    return {
        "adhoc": ("/api/v1/workflow/execute", counting(http_server)),
        "stored": (f"/api/v1/workflows/{counter.pk}/execute", {}),
        "version": (f"/api/v1/workflows/{counter.pk}/versions/1/execute", {}),
        "thaiyyal": (f"/api/v1/workflow/execute/{counter.pk}", {}),
        # no credentials but the secret: the key is the workflow owner's
        "webhook": (f"/api/v1/hooks/{services.rotate_webhook_secret(counter)}", {}),
    }


ENDPOINTS = ["adhoc", "stored", "version", "thaiyyal", "webhook"]


@pytest.mark.django_db
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_retry_with_the_same_key_replays_the_answer_without_running_again(
        api, counter, http_server, endpoint):
    url, body = endpoints(counter, http_server)[endpoint]

    first = api.post(url, body, format="json", **{HEADER: "order-42"})
    again = api.post(url, body, format="json", **{HEADER: "order-42"})

    assert first.status_code == again.status_code == 200
    assert first.json()["results"]["final_output"] == {"hits": 1}
    assert again.content == first.content
    assert http_server.hits("/count") == 1
    assert again["Idempotent-Replayed"] == "true"
    assert again["Content-Type"] == first["Content-Type"] == "application/json"
    assert Run.objects.count() == 1
    assert str(Run.objects.get().pk) == first.json()["run_id"]


@pytest.mark.django_db
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_without_a_key_every_request_runs(api, counter, http_server, endpoint):
    url, body = endpoints(counter, http_server)[endpoint]

    api.post(url, body, format="json")
    second = api.post(url, body, format="json")

    assert second.json()["results"]["final_output"] == {"hits": 2}
    assert "Idempotent-Replayed" not in second


@pytest.mark.django_db
def test_a_trailing_slash_or_another_query_order_is_the_same_request(api, http_server):
    payload = counting(http_server)
    first = api.post(f"{ADHOC}?max_http_calls=5&max_node_executions=9", payload,
                     format="json", **{HEADER: "same"})
    again = api.post(f"{ADHOC}/?max_node_executions=9&max_http_calls=5", payload,
                     format="json", **{HEADER: "same"})

    assert again.content == first.content
    assert http_server.hits("/count") == 1


@pytest.mark.django_db
def test_a_failed_run_replays_its_422(api, http_server):
    failing = {"nodes": [{"id": "call", "type": "http",
                          "data": {"url": http_server.url("/status?code=500")}}], "edges": []}

    first = api.post("/api/v1/workflow/execute", failing, format="json", **{HEADER: "k1"})
    again = api.post("/api/v1/workflow/execute", failing, format="json", **{HEADER: "k1"})

    assert first.status_code == again.status_code == 422
    assert again.content == first.content
    assert len(http_server.requests) == 1


@pytest.mark.django_db
@pytest.mark.parametrize("change", ["body", "query", "path"])
def test_the_same_key_for_another_request_is_a_422_naming_the_header(
        api, counter, http_server, change):
    payload = counting(http_server)
    api.post(ADHOC, payload, format="json", **{HEADER: "reused"})
    url, data = {"body": (ADHOC, {"nodes": [], "edges": []}),
                 "query": (f"{ADHOC}?max_http_calls=5", payload),
                 "path": (f"/api/v1/workflows/{counter.pk}/execute", payload)}[change]

    response = api.post(url, data, format="json", **{HEADER: "reused"})

    assert response.status_code == 422
    body = response.json()
    assert body["success"] is False
    assert "Idempotency-Key" in body["error"]
    assert body["details"][0]["path"] == "$.headers.Idempotency-Key"
    assert http_server.hits("/count") == 1


@pytest.mark.django_db
@pytest.mark.parametrize(("key", "problem"), [
    ("", "must not be empty"),
    ("k" * 256, "must be at most 255 characters, got 256"),
    ("tab\there", "must be printable ASCII characters"),
    ("caf\u00e9", "must be printable ASCII characters"),
])
def test_a_bad_key_is_a_400_naming_the_header(api, http_server, key, problem):
    response = api.post("/api/v1/workflow/execute", counting(http_server), format="json",
                        **{HEADER: key})

    assert response.status_code == 400
    assert response.json()["details"] == [{"path": "$.headers.Idempotency-Key",
                                           "message": problem}]
    assert http_server.hits("/count") == 0
    assert not IdempotencyKey.objects.exists()


@pytest.mark.django_db
def test_a_key_of_255_printable_characters_is_accepted(api, http_server):
    key = ("~ !" * 85)[:255]
    response = api.post("/api/v1/workflow/execute", counting(http_server), format="json",
                        **{HEADER: key})
    assert response.status_code == 200
    assert IdempotencyKey.objects.get().key == key


@pytest.mark.django_db
def test_keys_belong_to_their_user(api, other_user, http_server):
    payload = counting(http_server)

    mine = api.post("/api/v1/workflow/execute", payload, format="json", **{HEADER: "same"})
    theirs = token_client(other_user).post("/api/v1/workflow/execute", payload, format="json",
                                           **{HEADER: "same"})

    assert mine.json()["results"]["final_output"] == {"hits": 1}
    assert theirs.json()["results"]["final_output"] == {"hits": 2}


@pytest.mark.django_db
def test_a_webhook_s_key_is_its_workflow_owner_s(api, user, counter, http_server, anon):
    hook = f"/api/v1/hooks/{services.rotate_webhook_secret(counter)}"

    sent = anon.post(hook, {}, format="json", **{HEADER: "delivery-7"})
    # The owner's own request with that key is another request: refused, nothing runs.
    reused = api.post(f"/api/v1/workflows/{counter.pk}/execute", {}, format="json",
                      **{HEADER: "delivery-7"})
    unknown = anon.post("/api/v1/hooks/no-such-secret", {}, format="json",
                        **{HEADER: "delivery-7"})

    assert sent.status_code == 200
    assert IdempotencyKey.objects.get(key="delivery-7").user == user
    assert str(IdempotencyKey.objects.get().run_id) == sent.json()["run_id"]
    assert reused.status_code == 422
    assert unknown.status_code == 404
    assert http_server.hits("/count") == 1


@pytest.mark.django_db
def test_a_request_refused_before_running_frees_its_key(api, greeting):
    url = f"/api/v1/workflows/{greeting.pk}/execute"

    refused = api.post(url, {"inputs": {"nope": 1}}, format="json", **{HEADER: "fix-me"})
    fixed = api.post(url, {"inputs": {"name": "you"}}, format="json", **{HEADER: "fix-me"})

    assert refused.status_code == 400
    assert fixed.status_code == 200
    assert fixed.json()["results"]["final_output"] == "hello you x1"


@pytest.mark.django_db
def test_a_key_older_than_24_hours_is_ignored_then_pruned(api, user, http_server, capsys):
    payload = counting(http_server)
    api.post("/api/v1/workflow/execute", payload, format="json", **{HEADER: "daily"})
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=25))

    again = api.post("/api/v1/workflow/execute", payload, format="json", **{HEADER: "daily"})
    IdempotencyKey.objects.create(user=user, key="stale", request_hash="x",
                                  created_at=timezone.now() - timedelta(hours=25))
    call_command("prune_runs", "--days", "30")

    assert again.json()["results"]["final_output"] == {"hits": 2}
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["daily"]
    assert "1 expired idempotency key(s) deleted" in capsys.readouterr().out
    assert maintenance.prune_idempotency_keys() == 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_with_one_key_run_once(settings, http_server, django_user_model):
    settings.THAIYYAL_HTTP_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    user = django_user_model.objects.create_user("alice", password="pw-alice-1")
    payload = counting(http_server, delay="1s")
    clients = [token_client(user) for _ in range(4)]
    start = threading.Barrier(len(clients))
    answers: list[Any] = []

    def send(client: Any) -> None:
        try:
            start.wait()
            answers.append(client.post("/api/v1/workflow/execute", payload, format="json",
                                       **{HEADER: "together"}))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    after = clients[0].post("/api/v1/workflow/execute", payload, format="json",
                            **{HEADER: "together"})

    ran = [a for a in answers if a.status_code == 200 and "Idempotent-Replayed" not in a]
    busy = [a for a in answers if a.status_code == 409]
    # A thread the machine held back past the run's end gets the replay instead of a 409.
    replayed = [a for a in answers if "Idempotent-Replayed" in a]
    assert (len(answers), len(ran), len(busy) + len(replayed)) == (4, 1, 3)
    assert busy, "no request arrived while the first was running"
    assert busy[0]["Retry-After"] == "1"
    assert busy[0].json()["details"][0]["path"] == "$.headers.Idempotency-Key"
    assert busy[0].json()["run_id"] == ran[0].json()["run_id"]
    assert all(a.content == ran[0].content for a in replayed)
    assert http_server.hits("/count") == 1
    assert after.content == ran[0].content
    assert Run.objects.count() == 1


def _abandoned_key(user: Any, run_status: str | None, age: timedelta,
                   http_server: Any) -> IdempotencyKey:
    """The state a killed worker leaves behind for the request `retry` sends: the key
    claimed, no answer stored, and (unless `run_status` is None) its run's row."""
    request_hash = fingerprint("POST", ADHOC, [], raw_counting(http_server))
    outcome, record = claim(user, "killed", request_hash, now=timezone.now() - age)
    assert outcome is Claim.RUN
    if run_status is not None:
        Run.objects.create(id=record.run_id, status=run_status,
                           started_at=timezone.now() - age, limits={"max_execution_time": 5},
                           requested_by=user, worker_host="gone", worker_pid=1)
    return record


def raw_counting(http_server: Any) -> bytes:
    return json.dumps(counting(http_server)).encode()


def retry(api: Any, http_server: Any) -> Any:
    return api.post(ADHOC, raw_counting(http_server), content_type="application/json",
                    **{HEADER: "killed"})


@pytest.mark.django_db
def test_a_key_whose_run_is_still_in_time_is_409(api, user, http_server):
    _abandoned_key(user, RunStatus.RUNNING, timedelta(seconds=1), http_server)

    assert retry(api, http_server).status_code == 409
    assert http_server.hits("/count") == 0


@pytest.mark.django_db
def test_a_key_whose_worker_died_is_answered_from_the_reaped_run(api, user, http_server,
                                                                 settings):
    settings.THAIYYAL_REAP_GRACE_SECONDS = 1
    record = _abandoned_key(user, RunStatus.RUNNING, timedelta(seconds=7), http_server)
    reaped = maintenance.reap_interrupted()

    first = retry(api, http_server)
    second = retry(api, http_server)

    assert [r.pk for r in reaped] == [record.run_id]
    assert first.status_code == 422
    body = first.json()
    assert (body["run_id"], body["status"]) == (str(record.run_id), "interrupted")
    assert body["error"] == Run.objects.get(pk=record.run_id).error["message"]
    assert "did not finish the run within its time limit" in body["error"]
    assert second.content == first.content
    assert second["Idempotent-Replayed"] == "true"
    assert http_server.hits("/count") == 0


@pytest.mark.django_db
def test_a_key_whose_run_outlived_its_limit_and_grace_is_answered_interrupted(
        api, user, http_server, settings):
    settings.THAIYYAL_REAP_GRACE_SECONDS = 10
    _abandoned_key(user, RunStatus.RUNNING, timedelta(seconds=16), http_server)

    response = retry(api, http_server)

    assert response.status_code == 422
    assert response.json()["status"] == "interrupted"
    assert "send a new key" in response.json()["error"]
    assert http_server.hits("/count") == 0


@pytest.mark.django_db
def test_a_key_without_a_run_row_is_answered_interrupted_past_the_server_limit(
        api, user, http_server, settings):
    settings.THAIYYAL_REAP_GRACE_SECONDS = 10
    limit = services.server_limits().max_execution_time
    _abandoned_key(user, None, timedelta(seconds=limit + 5), http_server)
    assert retry(api, http_server).status_code == 409

    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(seconds=limit + 11))
    response = retry(api, http_server)

    assert response.status_code == 422
    assert response.json()["status"] == "interrupted"
    assert http_server.hits("/count") == 0


@pytest.mark.django_db
def test_a_key_whose_run_finished_without_storing_its_answer_replays_the_record(
        api, user, http_server):
    record = _abandoned_key(user, RunStatus.SUCCEEDED, timedelta(seconds=1), http_server)
    Run.objects.filter(pk=record.run_id).update(final_output={"hits": 1}, duration_ms=3.5)
    NodeRun.objects.create(run_id=record.run_id, node_id="call", node_type="http",
                           status="succeeded", started_offset_ms=0, duration_ms=3,
                           attempts=1, output={"hits": 1})

    response = retry(api, http_server)

    assert response.status_code == 200
    body = response.json()
    assert (body["success"], body["results"]["final_output"]) == (True, {"hits": 1})
    assert body["nodes"][0]["id"] == "call"
    assert http_server.hits("/count") == 0


@pytest.mark.django_db
def test_the_schema_documents_the_header_and_its_answers(anon):
    response = anon.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    paths = json.loads(response.content)["paths"]
    executes = ["/api/v1/workflow/execute/", "/api/v1/workflow/execute/{id}/",
                "/api/v1/workflows/{id}/execute/",
                "/api/v1/workflows/{id}/versions/{number}/execute/"]
    assert sorted(p for p in paths if "execute" in p) == sorted(executes)
    for path in executes:
        operation = paths[path]["post"]
        headers = [p for p in operation["parameters"] if p["in"] == "header"]
        assert [h["name"] for h in headers] == ["Idempotency-Key", "Prefer"], path
        assert {"409", "422"} <= set(operation["responses"]), path


@pytest.mark.django_db
def test_the_admin_lists_keys_read_only(client, admin_user, api, http_server):
    api.post(ADHOC, counting(http_server), format="json", **{HEADER: "seen-in-admin"})
    client.force_login(admin_user)

    listing = client.get("/admin/workflows/idempotencykey/?q=seen-in-admin")
    record = IdempotencyKey.objects.get()
    page = client.get(f"/admin/workflows/idempotencykey/{record.pk}/change/")

    assert listing.context["cl"].result_count == 1
    assert page.status_code == 200
    assert client.get("/admin/workflows/idempotencykey/add/").status_code == 403
