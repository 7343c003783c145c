"""/api/v1/workflows/: CRUD with versions, who sees what, executing stored workflows."""

from __future__ import annotations

import pytest

from tests.api.conftest import (
    ADD,
    DIVIDE_BY_ZERO,
    GREETING,
    REFUSED_CHOICES,
    token_client,
)
from workflows.models import Run, Workflow, WorkflowVersion

pytestmark = pytest.mark.django_db
URL = "/api/v1/workflows/"


def test_create_makes_version_one(api, user):
    response = api.post(URL, {"name": "Adder", "description": "2 + 3",
                              "definition": ADD}, format="json")

    assert response.status_code == 201
    body = response.json()
    assert (body["name"], body["slug"], body["version"], body["owner"]) == (
        "Adder", "adder", 1, "alice")
    assert body["definition"] == ADD
    assert Workflow.objects.get(pk=body["id"]).owner == user


def test_create_with_invalid_definition_is_400_with_paths_under_definition(api):
    bad = {"nodes": [{"id": "a", "type": "number", "data": {"value": "lots"}}], "edges": []}

    response = api.post(URL, {"name": "Bad", "definition": bad}, format="json")

    assert response.status_code == 400
    assert response.json()["details"][0]["path"].startswith("$.definition.nodes[0].data")
    assert not Workflow.objects.exists()


def test_create_without_required_fields_is_400_naming_them(api):
    response = api.post(URL, {"description": "no name"}, format="json")

    assert response.status_code == 400
    assert {d["path"] for d in response.json()["details"]} == {"$.name", "$.definition"}


def test_unknown_field_is_400(api):
    response = api.post(URL, {"name": "x", "definition": ADD, "colour": "red"}, format="json")

    assert response.status_code == 400
    assert response.json()["details"] == [{"path": "$.colour", "message": "unknown field"}]


def test_same_name_gets_a_distinct_slug(api):
    api.post(URL, {"name": "Adder", "definition": ADD}, format="json")
    second = api.post(URL, {"name": "Adder", "definition": ADD}, format="json").json()
    assert second["slug"] == "adder-2"


def test_changing_the_definition_makes_a_new_version_and_keeps_the_old(api, adder):
    response = api.patch(f"{URL}{adder.pk}", {"definition": DIVIDE_BY_ZERO}, format="json")

    assert response.status_code == 200
    assert response.json()["version"] == 2
    versions = api.get(f"{URL}{adder.pk}/versions").json()["results"]
    assert [v["number"] for v in versions] == [2, 1]
    old = api.get(f"{URL}{adder.pk}/versions/1").json()
    assert old["definition"] == ADD


def test_saving_an_identical_definition_makes_no_version(api, adder):
    response = api.put(f"{URL}{adder.pk}", {"name": "Adder renamed", "definition": ADD},
                       format="json")

    assert response.status_code == 200
    assert response.json()["version"] == 1
    assert response.json()["name"] == "Adder renamed"
    assert WorkflowVersion.objects.filter(workflow=adder).count() == 1


def test_update_with_invalid_definition_changes_nothing(api, adder):
    response = api.patch(f"{URL}{adder.pk}", {"name": "New", "definition": {"nodes": 3}},
                         format="json")

    assert response.status_code == 400
    assert response.json()["details"][0]["path"] == "$.definition.nodes"
    adder.refresh_from_db()
    assert (adder.name, adder.current_version.number) == ("Adder", 1)


def test_list_and_detail_show_only_your_own(api, adder, other_user):
    from workflows import services

    theirs = services.create_workflow(owner=other_user, name="Theirs", definition=ADD)

    listed = api.get(URL).json()
    assert [w["name"] for w in listed["results"]] == ["Adder"]
    assert listed["count"] == 1
    assert api.get(f"{URL}{theirs.pk}").status_code == 404
    assert api.post(f"{URL}{theirs.pk}/execute", {}, format="json").status_code == 404
    assert api.delete(f"{URL}{theirs.pk}").status_code == 404


def test_staff_see_everyone_s_workflows(adder, staff_user):
    staff = token_client(staff_user)
    assert [w["name"] for w in staff.get(URL).json()["results"]] == ["Adder"]
    assert staff.get(f"{URL}{adder.pk}").status_code == 200


def test_delete_removes_the_workflow_but_keeps_its_runs_and_their_version(api, adder):
    run_id = api.post(f"{URL}{adder.pk}/execute", {}, format="json").json()["run_id"]

    assert api.delete(f"{URL}{adder.pk}").status_code == 204

    assert api.get(f"{URL}{adder.pk}").status_code == 404
    assert not Workflow.objects.filter(pk=adder.pk).exists()
    run = Run.objects.get(pk=run_id)
    assert (run.workflow_id, run.version.number) == (adder.pk, 1)


def test_unauthenticated_is_401(anon, adder):
    assert anon.get(URL).status_code == 401
    assert anon.post(f"{URL}{adder.pk}/execute", {}, format="json").status_code == 401


def test_execute_stored_runs_the_current_version(api, adder):
    response = api.post(f"{URL}{adder.pk}/execute", format="json")

    assert response.status_code == 200
    body = response.json()
    assert body["results"]["final_output"] == 5
    assert (body["workflow_id"], body["workflow_name"], body["version"]) == (
        adder.pk, "Adder", 1)
    run = Run.objects.get(pk=body["run_id"])
    assert (run.workflow, run.version.number) == (adder, 1)


def test_inputs_override_context_variables(api, greeting):
    response = api.post(f"{URL}{greeting.pk}/execute",
                        {"inputs": {"name": "Ada", "times": 3}}, format="json")

    assert response.status_code == 200
    assert response.json()["results"]["final_output"] == "hello Ada x3"
    assert Run.objects.get(pk=response.json()["run_id"]).inputs == {"name": "Ada", "times": 3}


def test_without_inputs_the_defaults_apply(api, greeting):
    response = api.post(f"{URL}{greeting.pk}/execute", {"inputs": {}}, format="json")
    assert response.json()["results"]["final_output"] == "hello world x1"


def test_unknown_input_is_400_and_nothing_is_recorded(api, greeting):
    response = api.post(f"{URL}{greeting.pk}/execute", {"inputs": {"nmae": "Ada"}},
                        format="json")

    assert response.status_code == 400
    assert response.json()["error"] == "invalid inputs"
    assert response.json()["details"][0]["path"] == "$.inputs.nmae"
    assert not Run.objects.exists()


def test_input_of_the_wrong_type_is_400(api, greeting):
    response = api.post(f"{URL}{greeting.pk}/execute", {"inputs": {"times": "three"}},
                        format="json")

    assert response.status_code == 400
    assert response.json()["details"][0]["path"] == "$.inputs.times"


def test_inputs_that_are_not_an_object_are_400(api, greeting):
    response = api.post(f"{URL}{greeting.pk}/execute", {"inputs": ["Ada"]}, format="json")

    assert response.status_code == 400
    assert response.json()["details"][0]["path"] == "$.inputs"


def test_unknown_execute_body_field_is_400(api, greeting):
    response = api.post(f"{URL}{greeting.pk}/execute", {"input": {}}, format="json")
    assert response.json()["details"] == [{"path": "$.input", "message": "unknown field"}]


def test_failed_stored_run_is_422(api, user):
    from workflows import services

    broken = services.create_workflow(owner=user, name="Broken", definition=DIVIDE_BY_ZERO)

    response = api.post(f"{URL}{broken.pk}/execute", format="json")

    assert response.status_code == 422
    assert response.json()["failed_node"] == "div"


def test_an_old_version_stays_runnable(api, adder):
    api.patch(f"{URL}{adder.pk}", {"definition": DIVIDE_BY_ZERO}, format="json")

    old = api.post(f"{URL}{adder.pk}/versions/1/execute", format="json")
    current = api.post(f"{URL}{adder.pk}/execute", format="json")

    assert (old.status_code, old.json()["version"], old.json()["results"]["final_output"]) == (
        200, 1, 5)
    assert (current.status_code, current.json()["version"]) == (422, 2)


def test_missing_version_is_404(api, adder):
    assert api.get(f"{URL}{adder.pk}/versions/9").status_code == 404
    assert api.post(f"{URL}{adder.pk}/versions/9/execute", format="json").status_code == 404


def test_execute_stored_can_lower_limits(api, greeting):
    response = api.post(f"{URL}{greeting.pk}/execute?max_node_executions=1", format="json")

    assert response.status_code == 422
    assert Run.objects.get(pk=response.json()["run_id"]).limits["max_node_executions"] == 1


def test_stored_version_is_loaded_once_per_process(api, adder):
    from workflows import services

    cache = services.loaded_workflows()
    cache.clear()
    misses = cache.misses

    for _ in range(3):
        api.post(f"{URL}{adder.pk}/execute", format="json")

    assert cache.misses - misses == 1


def test_workflow_input_example_from_greeting_definition_is_kept(greeting):
    assert greeting.current_version.definition == GREETING


def test_staff_may_execute_anyone_s_workflow(adder, staff_user):
    response = token_client(staff_user).post(f"{URL}{adder.pk}/execute", {}, format="json")
    assert response.status_code == 200
    assert response.json()["results"]["final_output"] == 5


def test_execute_of_a_non_numeric_or_unknown_id_is_404(api):
    assert api.post(f"{URL}abc/execute", {}, format="json").status_code == 404
    assert api.post(f"{URL}999999/execute", {}, format="json").status_code == 404


def test_execute_of_a_workflow_without_a_version_is_400(api, user):
    empty = Workflow.objects.create(name="Empty", slug="empty", owner=user)
    response = api.post(f"{URL}{empty.pk}/execute", {}, format="json")
    assert response.status_code == 400
    assert "no version" in response.content.decode()


@pytest.mark.parametrize(("node", "field", "message"), REFUSED_CHOICES)
def test_save_refuses_a_value_outside_a_fields_choices_naming_them(api, node, field, message):
    bad = {"nodes": [{"id": "n", **node}], "edges": []}

    response = api.post(URL, {"name": "Bad choice", "definition": bad}, format="json")

    assert response.status_code == 400
    assert response.json()["details"] == [
        {"path": f"$.definition.nodes[0].{field}", "message": message}]
    assert not Workflow.objects.exists()


@pytest.mark.parametrize(("node", "field", "message"), REFUSED_CHOICES)
def test_a_new_version_refuses_a_value_outside_a_fields_choices(api, adder, node, field,
                                                               message):
    bad = {"nodes": [{"id": "n", **node}], "edges": []}

    response = api.patch(f"{URL}{adder.pk}", {"definition": bad}, format="json")

    assert response.status_code == 400
    assert response.json()["details"] == [
        {"path": f"$.definition.nodes[0].{field}", "message": message}]
    assert WorkflowVersion.objects.filter(workflow=adder).count() == 1