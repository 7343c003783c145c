"""Who sees which runs: a run a staff user starts on someone's workflow is visible to the
workflow's owner; nobody else (but staff) sees it."""

from __future__ import annotations

import pytest

from tests.api.conftest import ADD, token_client
from workflows import services

pytestmark = pytest.mark.django_db


def test_a_run_staff_start_on_a_users_workflow_is_visible_to_its_owner(
        user, other_user, staff_user):
    workflow = services.create_workflow(owner=user, name="alice's", definition=ADD)
    staff = token_client(staff_user)
    started = staff.post(f"/api/v1/workflows/{workflow.pk}/execute", {}, format="json")
    assert started.status_code == 200, started.content
    run_id = started.json()["run_id"]
    staffs_own = staff.post("/api/v1/workflow/execute", ADD, format="json").json()["run_id"]

    owner = token_client(user)
    listed = [r["id"] for r in owner.get("/api/v1/runs/").json()["results"]]
    assert listed == [run_id]
    detail = owner.get(f"/api/v1/runs/{run_id}")
    assert detail.status_code == 200
    assert detail.json()["requested_by"] == "sam"
    assert owner.get(f"/api/v1/runs/?workflow={workflow.pk}").json()["results"][0]["id"] == run_id
    # The staff user's ad-hoc run is theirs alone.
    assert owner.get(f"/api/v1/runs/{staffs_own}").status_code == 404

    stranger = token_client(other_user)
    assert stranger.get("/api/v1/runs/").json()["results"] == []
    assert stranger.get(f"/api/v1/runs/{run_id}").status_code == 404
    assert {r["id"] for r in staff.get("/api/v1/runs/").json()["results"]} == {run_id, staffs_own}


def test_a_deleted_workflows_runs_stay_visible_to_its_owner(user, staff_user):
    workflow = services.create_workflow(owner=user, name="gone", definition=ADD)
    run_id = token_client(staff_user).post(f"/api/v1/workflows/{workflow.pk}/execute", {},
                                           format="json").json()["run_id"]
    services.delete_workflow(workflow)

    detail = token_client(user).get(f"/api/v1/runs/{run_id}")
    assert detail.status_code == 200
    assert detail.json()["workflow_deleted"] is True
