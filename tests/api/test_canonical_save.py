"""A workflow saved with the editor's names is stored (and read back) in canonical form:
created or updated through the API (POST, PUT, PATCH) or the admin form."""

from __future__ import annotations

import json

import pytest

from workflows.models import Workflow

pytestmark = pytest.mark.django_db

EDITOR = {
    "nodes": [
        {"id": "r", "type": "rangeNode", "data": {"start": 1, "end": 3}},
        {"id": "m", "type": "mapNode", "data": {"expression": "item + 1"}},
        {"id": "t", "type": "textInputNode", "data": {"text": "x"}},
        {"id": "u", "type": "textOpNode", "data": {"textOp": "uppercase"}},
    ],
    "edges": [{"source": "r", "target": "m"}, {"source": "t", "target": "u"}],
}

#: what EDITOR is stored as
CANONICAL_TYPES = ["range", "map", "text_input", "text_operation"]


def test_saved_definition_reads_back_canonical_and_runs(api):
    created = api.post("/api/v1/workflows/", {"name": "Editor", "definition": EDITOR},
                       format="json")
    assert created.status_code == 201, created.json()
    nodes = created.json()["definition"]["nodes"]
    assert [n["type"] for n in nodes] == CANONICAL_TYPES
    assert nodes[3]["data"] == {"text_op": "uppercase"}

    run = api.post(f"/api/v1/workflows/{created.json()['id']}/execute", {}, format="json")
    assert run.status_code == 200, run.json()
    assert run.json()["results"]["node_results"]["m"]["results"] == [2, 3, 4]

#: a second editor-named definition, for an update
EDITOR_VARIABLES = {
    "nodes": [
        {"id": "n", "type": "numberNode", "data": {"value": 4}},
        {"id": "v", "type": "variableNode", "data": {"varName": "x", "varOp": "set"}},
        {"id": "c", "data": {"counterOp": "increment"}},  # untyped: typed from a camel key
    ],
    "edges": [{"source": "n", "target": "v"}],
}


def stored(workflow_id):
    return Workflow.objects.get(pk=workflow_id).current_version


@pytest.mark.parametrize("method", ["put", "patch"])
def test_an_update_is_stored_canonical_too(api, adder, method):
    """update_workflow (PUT and PATCH) stores the canonical form, like create."""
    url = f"/api/v1/workflows/{adder.pk}"
    body = {"name": "Adder", "definition": EDITOR_VARIABLES}
    response = getattr(api, method)(url, body, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["version"] == 2
    version = stored(adder.pk)
    assert [n.get("type") for n in version.definition["nodes"]] == ["number", "variable", None]
    assert version.definition["nodes"][1]["data"] == {"var_name": "x", "var_op": "set"}
    assert version.definition["nodes"][2]["data"] == {"counter_op": "increment"}
    assert response.json()["definition"] == version.definition
    read = api.get(f"/api/v1/workflows/{adder.pk}/versions/2").json()
    assert read["definition"] == version.definition


def test_resaving_the_editor_form_of_the_stored_definition_makes_no_version(api):
    created = api.post("/api/v1/workflows/", {"name": "Editor", "definition": EDITOR},
                       format="json").json()
    # the same workflow written with our names, then with the editor's again: both are
    # the stored canonical definition, so neither is a new version
    for definition in (created["definition"], EDITOR):
        response = api.patch(f"/api/v1/workflows/{created['id']}", {"definition": definition},
                             format="json")
        assert response.status_code == 200, response.json()
        assert response.json()["version"] == 1


@pytest.fixture
def admin(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser(
        "root", "root@example.com", "root-pw-1"))
    return client


def admin_form(name, definition, owner_pk):
    return {"name": name, "description": "", "owner": owner_pk,
            "definition": json.dumps(definition),
            "versions-TOTAL_FORMS": "0", "versions-INITIAL_FORMS": "0"}


def test_the_admin_form_stores_canonical_on_add_and_on_change(admin, user):
    response = admin.post("/admin/workflows/workflow/add/",
                          admin_form("Editor", EDITOR, user.pk))
    assert response.status_code == 302
    workflow = Workflow.objects.get(name="Editor")
    nodes = workflow.current_version.definition["nodes"]
    assert [n["type"] for n in nodes] == CANONICAL_TYPES
    assert nodes[3]["data"] == {"text_op": "uppercase"}

    response = admin.post(f"/admin/workflows/workflow/{workflow.pk}/change/",
                          {**admin_form("Editor", EDITOR_VARIABLES, user.pk),
                           "versions-TOTAL_FORMS": "1", "versions-INITIAL_FORMS": "1"})
    assert response.status_code == 302
    version = stored(workflow.pk)
    assert version.number == 2
    assert [n.get("type") for n in version.definition["nodes"]] == ["number", "variable", None]
    assert version.definition["nodes"][1]["data"] == {"var_name": "x", "var_op": "set"}
    assert version.definition["nodes"][2]["data"] == {"counter_op": "increment"}


@pytest.mark.parametrize("method", ["post", "put"])
def test_a_refused_save_names_the_key_as_the_user_wrote_it(api, method):
    bad = json.loads(json.dumps(EDITOR))
    bad["nodes"][3]["data"]["textOp"] = "shout"
    url = "/api/v1/workflows/"
    if method == "put":
        created = api.post(url, {"name": "Editor", "definition": EDITOR}, format="json")
        url += f"{created.json()['id']}/"
    answer = getattr(api, method)(url, {"name": "Editor", "definition": bad}, format="json")
    assert answer.status_code == 400, answer.json()
    text = json.dumps(answer.json())
    assert "nodes[3].data.textOp" in text, text
    assert "uppercase" in text, text
