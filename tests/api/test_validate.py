"""POST /api/v1/workflow/validate: execute's checks without running anything."""

from __future__ import annotations

import pytest

from tests.api.conftest import ADD, REFUSED_CHOICES
from workflows.models import Run

pytestmark = pytest.mark.django_db
URL = "/api/v1/workflow/validate"


def test_valid_workflow(api):
    response = api.post(URL, ADD, format="json")

    assert response.status_code == 200
    assert response.json() == {"success": True, "valid": True, "node_count": 3}
    assert not Run.objects.exists()


def test_cycle_is_reported_with_its_nodes(api):
    cyclic = {"nodes": [{"id": "a", "type": "number", "data": {"value": 1}},
                        {"id": "b", "type": "expression", "data": {"expression": "input"}}],
              "edges": [{"source": "a", "target": "b"}, {"source": "b", "target": "a"}]}

    response = api.post(URL, cyclic, format="json")

    assert response.status_code == 400
    body = response.json()
    assert body["valid"] is False
    assert body["details"][0]["path"] == "$.edges"
    assert "cycle" in body["details"][0]["message"]


def test_bad_expression_is_reported_at_its_field(api):
    payload = {"nodes": [{"id": "e", "type": "expression", "data": {"expression": "1 +* 2"}}],
               "edges": []}

    response = api.post(URL, payload, format="json")

    assert response.status_code == 400
    assert response.json()["details"][0]["path"].startswith("$.nodes[0].data.expression")


def test_malformed_json_is_400(api):
    response = api.post(URL, data="{", content_type="application/json")
    assert response.status_code == 400


def test_unauthenticated_is_401(anon):
    assert anon.post(URL, ADD, format="json").status_code == 401


@pytest.mark.parametrize(("node", "field", "message"), REFUSED_CHOICES)
def test_fixed_choices_are_refused_with_the_allowed_values(api, node, field, message):
    response = api.post(URL, {"nodes": [{"id": "n", **node}], "edges": []}, format="json")

    assert response.status_code == 400
    [problem] = response.json()["details"]
    assert problem == {"path": f"$.nodes[0].{field}", "message": message}


@pytest.mark.parametrize(("node", "path"), [
    ({"type": "textOpNode", "data": {"textOp": "reverse"}}, "$.nodes[0].data.textOp"),
    ({"type": "retryNode", "data": {"maxAttempts": 2, "initialDelay": "5 days"}},
     "$.nodes[0].data.initialDelay"),
    ({"type": "forEachNode", "data": {"body": {"nodes": [
        {"id": "t", "type": "textOpNode", "data": {"textOp": "reverse"}}], "edges": []}}},
     "$.nodes[0].data.body.nodes[0].data.textOp"),
])
def test_a_problem_names_the_key_as_the_editor_wrote_it(api, node, path):
    response = api.post(URL, {"nodes": [{"id": "n", **node}], "edges": []}, format="json")

    assert response.status_code == 400
    assert [p["path"] for p in response.json()["details"]] == [path]


def test_choices_in_loop_bodies_are_checked(api):
    body = {"nodes": [{"id": "op", "type": "operation", "data": {"op": "root"}}], "edges": []}
    payload = {"nodes": [{"id": "loop", "type": "for_each", "data": {"body": body}}],
               "edges": []}

    response = api.post(URL, payload, format="json")

    assert response.status_code == 400
    assert response.json()["details"][0]["path"] == "$.nodes[0].data.body.nodes[0].data.op"


def test_choices_fold_case_as_thaiyyals_editor_writes_them(api):
    payload = {"nodes": [{"id": "n", "type": "operation", "data": {"op": "ADD"}}], "edges": []}
    assert api.post(URL, payload, format="json").status_code == 200


@pytest.mark.parametrize("node", [
    {"type": "opNode", "data": {"op": "sqrt"}},   # Thaiyyal's editor's type name
    {"data": {"op": "sqrt"}},                     # no type: inferred from the data, as Thaiyyal
    {"type": "textOpNode", "data": {"textOp": "reverse"}},  # camelCase key
])
def test_choices_are_checked_however_thaiyyal_spells_the_node(api, node):
    response = api.post(URL, {"nodes": [{"id": "n", **node}], "edges": []}, format="json")

    assert response.status_code == 400
    assert response.json()["details"][0]["message"].startswith("must be one of ")
