"""The admin's execute page and "Execute selected" action honour the workflow's
execution_mode as the API does: `async` (and `auto` past the web tier's limit) queue the
run and link it instead of running it in the web worker."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import GREETING
from workflows import services
from workflows.api.responses import encoded_execution
from workflows.models import Run, RunStatus, Workflow

pytestmark = pytest.mark.django_db


def workflow(owner: Any, name: str, mode: str) -> Workflow:
    created = services.create_workflow(owner=owner, name=name, definition=GREETING)
    Workflow.objects.filter(pk=created.pk).update(execution_mode=mode)
    return Workflow.objects.get(pk=created.pk)


def execute_page(client: Any, wf: Workflow) -> str:
    response = client.post(f"/admin/workflows/workflow/{wf.pk}/execute/",
                           {"version": 1, "inputs": '{"name": "admin"}'})
    assert response.status_code == 200
    return str(response.content.decode())


def test_the_execute_page_queues_an_async_workflows_run_and_links_it(
        admin_client: Any, admin_user: Any, queue: Any) -> None:
    wf = workflow(admin_user, "Queued", "async")

    html = execute_page(admin_client, wf)

    run = Run.objects.get()
    assert (run.status, run.trigger, run.requested_by) == (RunStatus.QUEUED, "admin", admin_user)
    assert run.inputs == {"name": "admin"}
    assert queue.depth() == 1
    assert f'href="/admin/workflows/run/{run.pk}/change/"' in html
    assert "Queued (execution mode <code>async</code>)" in html
    # the worker's side: the run it gets is the one the page asked for
    services.execute_queued(run.pk, answer=encoded_execution)
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED


def test_auto_queues_from_the_admin_only_past_the_web_tiers_limit(
        admin_client: Any, admin_user: Any, queue: Any, settings: Any) -> None:
    wf = workflow(admin_user, "Auto", "auto")
    settings.THAIYYAL_WEB_MAX_EXECUTION_TIME = 60.0  # over the server's 30 s: in the request
    execute_page(admin_client, wf)
    assert Run.objects.get().status == RunStatus.SUCCEEDED
    assert queue.depth() == 0

    settings.THAIYYAL_WEB_MAX_EXECUTION_TIME = 5.0
    execute_page(admin_client, wf)
    assert Run.objects.filter(status=RunStatus.QUEUED).count() == 1
    assert queue.depth() == 1


def test_execute_selected_queues_async_workflows_and_runs_sync_ones_here(
        admin_client: Any, admin_user: Any, queue: Any) -> None:
    queued = [workflow(admin_user, f"Async {i}", "async") for i in range(2)]
    here = workflow(admin_user, "Sync", "sync")

    response = admin_client.post("/admin/workflows/workflow/", {
        "action": "execute_selected", "_selected_action": [w.pk for w in [*queued, here]]})

    assert response.status_code == 200
    status = dict(Run.objects.values_list("workflow_id", "status"))
    assert status == {queued[0].pk: "queued", queued[1].pk: "queued", here.pk: "succeeded"}
    assert set(Run.objects.values_list("trigger", flat=True)) == {"admin"}
    assert queue.depth() == 2
    html = response.content.decode()
    for run in Run.objects.filter(status=RunStatus.QUEUED):
        assert f'href="/admin/workflows/run/{run.pk}/change/"' in html


def test_an_async_workflow_without_a_broker_is_refused_on_the_page_naming_the_setting(
        admin_client: Any, admin_user: Any, settings: Any) -> None:
    settings.THAIYYAL_BROKER_URL = ""
    wf = workflow(admin_user, "No broker", "async")

    html = execute_page(admin_client, wf)

    assert "THAIYYAL_BROKER_URL" in html
    assert not Run.objects.exists()
