"""Thaiyyal's own paths answer with its shapes: save, list, load, delete, execute/{id}."""

from __future__ import annotations

import pytest

from tests.api.conftest import ADD, GREETING, token_client
from workflows.models import Workflow

pytestmark = pytest.mark.django_db
BASE = "/api/v1/workflow"


def test_save_list_load_execute_delete(api):
    saved = api.post(f"{BASE}/save", {"name": "My Addition Workflow",
                                      "description": "Simple addition", "data": ADD},
                     format="json")
    assert saved.status_code == 201
    assert saved.json()["success"] is True
    assert saved.json()["message"] == "Workflow saved successfully"
    wf_id = saved.json()["id"]
    assert isinstance(wf_id, str)

    listed = api.get(f"{BASE}/list").json()
    assert listed["success"] is True
    assert listed["count"] == 1
    assert listed["workflows"][0]["id"] == wf_id
    assert listed["workflows"][0]["name"] == "My Addition Workflow"
    assert "data" not in listed["workflows"][0]

    loaded = api.get(f"{BASE}/load/{wf_id}").json()
    assert loaded["success"] is True
    assert loaded["workflow"]["data"] == ADD
    assert loaded["workflow"]["description"] == "Simple addition"

    executed = api.post(f"{BASE}/execute/{wf_id}")
    assert executed.status_code == 200
    assert executed.json()["workflow_name"] == "My Addition Workflow"
    assert executed.json()["results"]["final_output"] == 5

    deleted = api.delete(f"{BASE}/delete/{wf_id}")
    assert deleted.json() == {"success": True, "message": "Workflow deleted successfully"}
    assert api.get(f"{BASE}/load/{wf_id}").status_code == 404


def test_save_with_id_saves_a_new_version(api, adder):
    response = api.post(f"{BASE}/save", {"id": str(adder.pk), "name": "Adder",
                                         "data": GREETING}, format="json")

    assert response.status_code == 201
    adder.refresh_from_db()
    assert adder.current_version.number == 2


def test_save_invalid_workflow_is_400_with_paths_under_data(api):
    response = api.post(f"{BASE}/save", {"name": "Bad", "data": {"nodes": "none"}},
                        format="json")

    assert response.status_code == 400
    assert response.json()["details"][0]["path"] == "$.data.nodes"
    assert not Workflow.objects.exists()


def test_save_without_name_or_data_is_400(api):
    response = api.post(f"{BASE}/save", {"description": "?"}, format="json")

    assert response.status_code == 400
    assert {d["path"] for d in response.json()["details"]} == {"$.name", "$.data"}


def test_execute_by_id_takes_inputs(api, greeting):
    response = api.post(f"{BASE}/execute/{greeting.pk}", {"inputs": {"name": "Lin"}},
                        format="json")
    assert response.json()["results"]["final_output"] == "hello Lin x1"


def test_other_users_workflows_are_404(api, other_user):
    theirs = token_client(other_user).post(
        f"{BASE}/save", {"name": "Theirs", "data": ADD}, format="json").json()["id"]

    assert api.get(f"{BASE}/list").json()["count"] == 0
    assert api.get(f"{BASE}/load/{theirs}").status_code == 404
    assert api.post(f"{BASE}/execute/{theirs}").status_code == 404
    assert api.delete(f"{BASE}/delete/{theirs}").status_code == 404


def test_paths_need_authentication(anon, adder):
    assert anon.get(f"{BASE}/list").status_code == 401
    assert anon.post(f"{BASE}/execute/{adder.pk}").status_code == 401
