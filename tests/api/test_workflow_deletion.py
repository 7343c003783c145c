"""Deleting or editing a workflow never fails or loses a run of it: deletion hides the
workflow (API, Thaiyyal's paths, admin, execute) and keeps its versions, so runs (in
flight or finished) keep the version they ran; purging comes later, for workflows no run
references."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import IntegrityError, connections, transaction
from django.db.models import ProtectedError
from django.utils import timezone

from tests.api.conftest import ADD, GREETING, token_client
from workflows import maintenance, services
from workflows.models import NodeRun, Run, Workflow, WorkflowVersion

URL = "/api/v1/workflows/"


def slow_definition(http_server: Any, delay: str = "50ms") -> dict[str, Any]:
    """An http call to the server's /gate (its hit is the test's sign that the run is under
    way; it answers when the test opens the gate), then a `delay`, then 2 + 3."""
    return {
        "nodes": [
            {"id": "started", "type": "http", "data": {"url": http_server.url("/gate")}},
            {"id": "wait", "type": "delay", "data": {"duration": delay}},
            {"id": "a", "type": "number", "data": {"value": 2}},
            {"id": "b", "type": "number", "data": {"value": 3}},
            {"id": "sum", "type": "operation", "data": {"op": "add"}},
        ],
        "edges": [{"source": "started", "target": "wait"}, {"source": "wait", "target": "a"},
                  {"source": "a", "target": "sum"}, {"source": "b", "target": "sum"}],
    }


def execute_in_thread(client: Any, url: str) -> tuple[threading.Thread, dict[str, Any]]:
    answer: dict[str, Any] = {}

    def run() -> None:
        try:
            answer["response"] = client.post(url, format="json")
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, answer


def wait_until_started(http_server: Any) -> None:
    deadline = time.monotonic() + 10
    while http_server.hits("/gate") == 0:
        assert time.monotonic() < deadline, "the run never started"
        time.sleep(0.002)


def delete_by_api(user: Any, workflow: Workflow, client: Any) -> None:
    assert token_client(user).delete(f"{URL}{workflow.pk}").status_code == 204


def delete_by_thaiyyal_path(user: Any, workflow: Workflow, client: Any) -> None:
    response = token_client(user).delete(f"/api/v1/workflow/delete/{workflow.pk}")
    assert response.json() == {"success": True, "message": "Workflow deleted successfully"}


def delete_in_admin(user: Any, workflow: Workflow, client: Any) -> None:
    response = client.post(f"/admin/workflows/workflow/{workflow.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302


def edit_by_api(user: Any, workflow: Workflow, client: Any) -> None:
    response = token_client(user).patch(f"{URL}{workflow.pk}", {"definition": ADD},
                                        format="json")
    assert response.json()["version"] == 2


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("change", [delete_by_api, delete_by_thaiyyal_path, delete_in_admin,
                                    edit_by_api])
@pytest.mark.parametrize("running_row_after_ms", [10_000, 20],
                         ids=["written-once-at-the-end", "running-row-first"])
def test_a_run_survives_its_workflow_changing_while_it_runs(
        change, running_row_after_ms, settings, http_server, client, django_user_model):
    settings.THAIYYAL_HTTP_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    settings.THAIYYAL_RUNNING_ROW_AFTER_MS = running_row_after_ms
    user = django_user_model.objects.create_user("alice", password="pw-alice-1", is_staff=True,
                                                 is_superuser=True)
    client.force_login(user)
    workflow = services.create_workflow(owner=user, name="Slow",
                                        definition=slow_definition(http_server))
    first_version = workflow.current_version

    thread, answer = execute_in_thread(token_client(user), f"{URL}{workflow.pk}/execute")
    wait_until_started(http_server)
    try:
        change(user, workflow, client)
        changed_at = timezone.now()
    finally:
        http_server.gate.set()  # the run goes on only now: the change happened while it ran
    thread.join(timeout=30)

    response = answer["response"]
    assert response.status_code == 200, response.content
    assert response.json()["results"]["final_output"] == 5
    run = Run.objects.get(pk=response.json()["run_id"])
    assert run.finished_at > changed_at, "the change did not happen while the run ran"
    assert (run.status, run.workflow_id, run.version_id) == (
        "succeeded", workflow.pk, first_version.pk)
    assert NodeRun.objects.filter(run=run).count() == 5
    assert WorkflowVersion.objects.get(pk=first_version.pk).definition == slow_definition(
        http_server)


@pytest.mark.django_db
def test_a_deleted_workflow_is_hidden_everywhere_and_cannot_run(api, adder):
    api.delete(f"{URL}{adder.pk}")

    assert api.get(URL).json()["results"] == []
    assert api.get(f"{URL}{adder.pk}").status_code == 404
    assert api.get(f"{URL}{adder.pk}/versions").status_code == 404
    assert api.post(f"{URL}{adder.pk}/execute", format="json").status_code == 404
    assert api.post(f"{URL}{adder.pk}/versions/1/execute", format="json").status_code == 404
    assert api.patch(f"{URL}{adder.pk}", {"name": "x"}, format="json").status_code == 404
    assert api.delete(f"{URL}{adder.pk}").status_code == 404
    assert api.get("/api/v1/workflow/list").json()["count"] == 0
    assert api.get(f"/api/v1/workflow/load/{adder.pk}").status_code == 404
    assert api.post(f"/api/v1/workflow/execute/{adder.pk}").status_code == 404
    assert api.delete(f"/api/v1/workflow/delete/{adder.pk}").status_code == 404
    assert Workflow.all_objects.get(pk=adder.pk).deleted_at is not None


@pytest.mark.django_db
def test_run_detail_of_a_deleted_workflow_shows_its_version_and_definition(api, adder):
    run_id = api.post(f"{URL}{adder.pk}/execute", format="json").json()["run_id"]
    api.delete(f"{URL}{adder.pk}")

    detail = api.get(f"/api/v1/runs/{run_id}").json()

    assert (detail["workflow"], detail["workflow_name"], detail["version"]) == (
        adder.pk, "Adder", 1)
    assert detail["workflow_deleted"] is True
    assert detail["definition"] == ADD
    assert len(detail["node_runs"]) == 3
    assert api.get(f"/api/v1/runs/?workflow={adder.pk}").json()["results"][0]["id"] == run_id


@pytest.mark.django_db
def test_run_detail_of_a_live_workflow_says_so_and_ad_hoc_runs_have_no_definition(api, adder):
    stored = api.post(f"{URL}{adder.pk}/execute", format="json").json()["run_id"]
    adhoc = api.post("/api/v1/workflow/execute", ADD, format="json").json()["run_id"]

    assert api.get(f"/api/v1/runs/{stored}").json()["workflow_deleted"] is False
    detail = api.get(f"/api/v1/runs/{adhoc}").json()
    assert (detail["definition"], detail["workflow_deleted"]) == (None, False)


@pytest.mark.django_db
def test_a_deleted_workflow_s_name_can_be_used_again_with_the_same_slug(api, adder):
    api.delete(f"{URL}{adder.pk}")

    again = api.post(URL, {"name": "Adder", "definition": ADD}, format="json").json()

    assert again["slug"] == adder.slug == "adder"
    assert again["id"] != adder.pk


@pytest.mark.django_db
def test_two_live_workflows_cannot_share_a_slug(user, adder):
    with pytest.raises(IntegrityError), transaction.atomic():
        Workflow.objects.create(owner=user, name="Other", slug=adder.slug)


@pytest.mark.django_db
def test_admin_delete_confirms_only_the_workflow_and_hides_it(client, admin_user, greeting):
    client.force_login(admin_user)
    run = services.execute_version(greeting.current_version, user=admin_user)

    confirm = client.get(f"/admin/workflows/workflow/{greeting.pk}/delete/")
    client.post(f"/admin/workflows/workflow/{greeting.pk}/delete/", {"post": "yes"})

    assert confirm.status_code == 200
    assert b"version" not in confirm.context["deleted_objects"][0].encode()
    assert client.get("/admin/workflows/workflow/").context["cl"].result_count == 0
    assert Run.objects.get(pk=run.run_id).version == greeting.current_version
    assert client.get(f"/admin/workflows/run/{run.run_id}/change/").status_code == 200


@pytest.mark.django_db
def test_admin_bulk_delete_is_soft_too(client, admin_user, greeting, adder):
    client.force_login(admin_user)

    client.post("/admin/workflows/workflow/", {
        "action": "delete_selected", "_selected_action": [greeting.pk, adder.pk],
        "post": "yes"})

    assert not Workflow.objects.exists()
    assert Workflow.all_objects.filter(deleted_at__isnull=False).count() == 2
    assert WorkflowVersion.objects.count() == 2


@pytest.mark.django_db
def test_purge_removes_only_long_deleted_workflows_no_run_references(user, adder, greeting):
    with_runs = services.create_workflow(owner=user, name="With runs", definition=GREETING)
    services.execute_version(with_runs.current_version, user=user)
    recent = services.create_workflow(owner=user, name="Recent", definition=ADD)
    for workflow in (adder, with_runs, recent):
        services.delete_workflow(workflow)
    long_ago = timezone.now() - timedelta(days=2)
    Workflow.all_objects.filter(pk__in=[adder.pk, with_runs.pk]).update(deleted_at=long_ago)

    assert maintenance.purge_deleted_workflows() == 1

    assert set(Workflow.all_objects.values_list("name", flat=True)) == {
        "Greeting", "With runs", "Recent"}
    assert not WorkflowVersion.objects.filter(workflow_id=adder.pk).exists()


@pytest.mark.django_db
def test_prune_runs_purges_deleted_workflows_once_their_runs_are_gone(user, adder, capsys):
    execution = services.execute_version(adder.current_version, user=user)
    services.delete_workflow(adder)
    Workflow.all_objects.filter(pk=adder.pk).update(
        deleted_at=timezone.now() - timedelta(days=2))
    Run.objects.filter(pk=execution.run_id).update(
        started_at=timezone.now() - timedelta(days=40))

    call_command("prune_runs", "--days", "30")

    assert not Workflow.all_objects.filter(pk=adder.pk).exists()
    assert "1 deleted workflow(s) purged" in capsys.readouterr().out


@pytest.mark.django_db
def test_saving_a_copy_loaded_before_a_delete_does_not_undelete_it(user, adder):
    loaded_before = Workflow.objects.get(pk=adder.pk)
    services.delete_workflow(adder)

    services.update_workflow(loaded_before, user=user, name="Renamed", definition=GREETING)

    assert not Workflow.objects.filter(pk=adder.pk).exists()
    assert Workflow.all_objects.get(pk=adder.pk).deleted_at is not None


@pytest.mark.django_db
def test_deleting_a_user_who_owns_workflows_is_refused_and_their_runs_keep_their_version(
        user, adder, client, admin_user):
    run_id = services.execute_version(adder.current_version, user=user).run_id
    client.force_login(admin_user)

    with pytest.raises(ProtectedError):
        user.delete()
    page = client.get(f"/admin/auth/user/{user.pk}/delete/")
    refused = client.post(f"/admin/auth/user/{user.pk}/delete/", {"post": "yes"})

    # The admin names the protected workflows and, asked again, deletes nothing.
    assert b"protected related objects" in page.content
    assert (refused.status_code, b"protected related objects" in refused.content) == (200, True)
    assert get_user_model().objects.filter(pk=user.pk).exists()
    run = Run.objects.get(pk=run_id)
    assert run.version_id == adder.current_version_id
    assert run.version.definition == ADD


@pytest.mark.django_db
def test_a_user_is_deleted_once_their_workflows_are_purged(user, adder):
    services.delete_workflow(adder)
    Workflow.all_objects.filter(pk=adder.pk).update(deleted_at=timezone.now() - timedelta(days=2))
    assert maintenance.purge_deleted_workflows() == 1

    user.delete()

    assert not get_user_model().objects.filter(pk=user.pk).exists()
