"""`POST /api/v1/hooks/{secret}`: a stored workflow's webhook runs it with the body as
inputs, sync or queued as the workflow says, recorded with trigger `webhook`."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from workflows import services
from workflows.models import Run, RunStatus, Trigger

pytestmark = pytest.mark.django_db


@pytest.fixture
def hook(greeting: Any) -> str:
    return services.rotate_webhook_secret(greeting)


def test_a_webhook_runs_the_workflow_with_the_body_as_inputs(anon: APIClient, hook: str,
                                                              greeting: Any, user: Any) -> None:
    response = anon.post(f"/api/v1/hooks/{hook}", {"name": "hook"}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["results"]["final_output"] == "hello hook x1"
    run = Run.objects.get()
    assert (run.trigger, run.requested_by, run.workflow_id) == (Trigger.WEBHOOK, user,
                                                                greeting.pk)
    assert run.status == RunStatus.SUCCEEDED


def test_an_unknown_or_rotated_secret_is_a_404(anon: APIClient, hook: str,
                                               greeting: Any) -> None:
    assert anon.post("/api/v1/hooks/" + "x" * 43, {}, format="json").status_code == 404
    new = services.rotate_webhook_secret(greeting)
    old = anon.post(f"/api/v1/hooks/{hook}", {}, format="json")
    assert old.status_code == 404
    assert old.json()["success"] is False
    assert anon.post(f"/api/v1/hooks/{new}", {}, format="json").status_code == 200


def test_a_webhook_body_must_be_an_object_of_known_inputs(anon: APIClient, hook: str) -> None:
    listed = anon.post(f"/api/v1/hooks/{hook}", [1, 2], format="json")
    assert listed.status_code == 400
    unknown = anon.post(f"/api/v1/hooks/{hook}", {"nope": 1}, format="json")
    assert unknown.status_code == 400
    assert unknown.json()["details"][0]["path"] == "$.inputs.nope"
    assert not Run.objects.exists()


def test_a_webhook_of_an_async_workflow_is_queued(anon: APIClient, hook: str, greeting: Any,
                                                  queue: Any) -> None:
    services.update_workflow(greeting, user=None, execution_mode="async")
    response = anon.post(f"/api/v1/hooks/{hook}", {"name": "later"}, format="json")
    assert response.status_code == 202
    assert response["Location"] == f"/api/v1/runs/{response.json()['id']}"
    run = Run.objects.get()
    assert (run.status, run.trigger, run.inputs) == (RunStatus.QUEUED, Trigger.WEBHOOK,
                                                     {"name": "later"})
    assert queue.depth() == 1


def test_the_admin_rotates_a_webhook_secret_and_shows_its_url(client: Any, greeting: Any,
                                                               staff_admin: Any) -> None:
    client.force_login(staff_admin)
    response = client.post("/admin/workflows/workflow/", {
        "action": "rotate_webhook_secrets", "_selected_action": [greeting.pk]})
    assert response.status_code == 302
    greeting.refresh_from_db()
    assert len(greeting.webhook_secret) >= 32
    page = client.get(f"/admin/workflows/workflow/{greeting.pk}/change/").content.decode()
    assert f"/api/v1/hooks/{greeting.webhook_secret}" in page


@pytest.fixture
def staff_admin(django_user_model: Any) -> Any:
    return django_user_model.objects.create_superuser("hookadmin", "h@example.com", "pw-12345")


def test_webhook_runs_are_the_owners_runs_in_flight_past_the_cap_429(
        anon: APIClient, hook: str, greeting: Any, api: Any, queue: Any,
        settings: Any) -> None:
    settings.THAIYYAL_MAX_RUNS_IN_FLIGHT = 1
    services.update_workflow(greeting, user=None, execution_mode="async")
    assert anon.post(f"/api/v1/hooks/{hook}", {"name": "a"}, format="json").status_code == 202

    refused = anon.post(f"/api/v1/hooks/{hook}", {"name": "b"}, format="json")
    assert refused.status_code == 429, refused.content
    assert refused["Retry-After"] == "1"
    assert "at most 1 at once" in refused.json()["error"]
    # the owner's own executes share the cap with their webhook's runs, queued or not
    assert api.post(f"/api/v1/workflows/{greeting.pk}/execute", {}, format="json",
                    HTTP_PREFER="respond-async").status_code == 429
    services.update_workflow(greeting, user=None, execution_mode="sync")
    assert anon.post(f"/api/v1/hooks/{hook}", {"name": "c"}, format="json").status_code == 429
    assert (Run.objects.count(), queue.depth()) == (1, 1)

    queue.run_next()  # a worker runs the queued one
    ran = anon.post(f"/api/v1/hooks/{hook}", {"name": "d"}, format="json")
    assert ran.status_code == 200
    assert ran.json()["results"]["final_output"] == "hello d x1"


@pytest.mark.django_db(transaction=True)
def test_webhook_runs_queued_at_once_are_counted_one_after_the_other(
        hook: str, greeting: Any, queue: Any, settings: Any) -> None:
    import threading

    from django.db import connection

    settings.THAIYYAL_MAX_RUNS_IN_FLIGHT = 2
    services.update_workflow(greeting, user=None, execution_mode="async")
    statuses: list[int] = []
    barrier = threading.Barrier(6)

    def call() -> None:
        client = APIClient()
        barrier.wait()
        statuses.append(client.post(f"/api/v1/hooks/{hook}", {}, format="json").status_code)
        connection.close()  # this thread's own

    threads = [threading.Thread(target=call) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(statuses) == [202, 202, 429, 429, 429, 429]
    assert Run.objects.filter(status=RunStatus.QUEUED).count() == 2


def test_a_schedules_turn_past_the_owners_cap_is_recorded_failed_and_runs_nothing(
        anon: APIClient, hook: str, greeting: Any, queue: Any, settings: Any) -> None:
    import uuid

    from workflows import tasks

    settings.THAIYYAL_MAX_RUNS_IN_FLIGHT = 1
    services.update_workflow(greeting, user=None, execution_mode="async")
    waiting = anon.post(f"/api/v1/hooks/{hook}", {}, format="json").json()["id"]

    turn = str(uuid.uuid4())
    tasks.scheduled_run.apply(kwargs={"workflow": greeting.pk}, task_id=turn).get()
    skipped = Run.objects.get(pk=turn)
    assert (skipped.trigger, skipped.status) == (Trigger.SCHEDULE, RunStatus.FAILED)
    assert skipped.error["code"] == "too_many_runs"
    assert "at most 1 at once" in skipped.error["message"]
    assert not skipped.node_runs.exists()

    queue.run_next()  # the webhook's run ends
    assert Run.objects.get(pk=waiting).status == RunStatus.SUCCEEDED
    turn = str(uuid.uuid4())
    tasks.scheduled_run.apply(kwargs={"workflow": greeting.pk}, task_id=turn).get()
    assert Run.objects.get(pk=turn).status == RunStatus.SUCCEEDED
