"""The admin: JSON editor checked on save, version history, execute, read-only runs."""

from __future__ import annotations

import json

import pytest

from tests.api.conftest import ADD, DIVIDE_BY_ZERO, GREETING, REFUSED_CHOICES
from workflows import services
from workflows.models import Run, Workflow

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(client, admin_user):
    client.force_login(admin_user)
    return client


def form(name, definition, owner, description=""):
    return {"name": name, "description": description, "owner": owner.pk,
            "definition": json.dumps(definition),
            "versions-TOTAL_FORMS": "0", "versions-INITIAL_FORMS": "0"}


def test_adding_a_workflow_saves_version_one(admin, admin_user):
    response = admin.post("/admin/workflows/workflow/add/", form("Adder", ADD, admin_user))

    assert response.status_code == 302
    workflow = Workflow.objects.get(name="Adder")
    assert (workflow.slug, workflow.current_version.number) == ("adder", 1)
    assert workflow.current_version.definition == ADD


def test_invalid_definition_is_shown_at_the_field_with_paths(admin, admin_user):
    bad = {"nodes": [{"id": "a", "type": "number", "data": {"value": "lots"}},
                     {"id": "a", "type": "teleport", "data": {}}], "edges": []}

    response = admin.post("/admin/workflows/workflow/add/", form("Bad", bad, admin_user))

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["definition"]
    assert any(e.startswith("$.nodes[0].data") for e in errors)
    assert any(e.startswith("$.nodes[1]") for e in errors)
    assert b"$.nodes[0].data" in response.content
    assert not Workflow.objects.exists()


@pytest.mark.parametrize(("node", "field", "message"), [
    p for p in REFUSED_CHOICES if p.id in ("method", "duration-unit")])
def test_the_form_refuses_a_value_outside_a_fields_choices_naming_them(admin, admin_user, node,
                                                                      field, message):
    bad = {"nodes": [{"id": "n", **node}], "edges": []}

    response = admin.post("/admin/workflows/workflow/add/", form("Bad", bad, admin_user))

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["definition"] == [
        f"$.nodes[0].{field}: {message}"]
    assert not Workflow.objects.exists()


def test_malformed_json_is_shown_at_the_field(admin, admin_user):
    data = {**form("Bad", ADD, admin_user), "definition": '{"nodes": ['}

    response = admin.post("/admin/workflows/workflow/add/", data)

    assert response.status_code == 200
    assert "definition" in response.context["adminform"].form.errors


def test_changing_the_definition_adds_a_version_shown_in_the_history(admin, admin_user,
                                                                      greeting):
    url = f"/admin/workflows/workflow/{greeting.pk}/change/"
    data = {**form("Greeting", ADD, admin_user), "versions-TOTAL_FORMS": "1",
            "versions-INITIAL_FORMS": "1"}

    assert admin.post(url, data).status_code == 302

    greeting.refresh_from_db()
    assert greeting.current_version.number == 2
    page = admin.get(url)
    assert b"version history" in page.content.lower()
    assert page.content.count(b"execute this version") == 2
    assert b"&quot;nodes&quot;" in page.content  # the editor shows the current definition


def test_execute_page_runs_a_version_with_inputs_and_shows_the_result(admin, greeting):
    url = f"/admin/workflows/workflow/{greeting.pk}/execute/"
    assert admin.get(url).status_code == 200

    response = admin.post(url, {"version": "1", "inputs": '{"name": "Ada"}'})

    assert response.status_code == 200
    assert b"hello Ada x1" in response.content
    run = Run.objects.get()
    assert (run.status, run.version.number, run.inputs) == ("succeeded", 1, {"name": "Ada"})
    assert str(run.id).encode() in response.content


def test_execute_page_shows_bad_inputs_at_the_field(admin, greeting):
    response = admin.post(f"/admin/workflows/workflow/{greeting.pk}/execute/",
                          {"version": "1", "inputs": '{"nmae": "Ada"}'})

    assert response.status_code == 200
    assert b"$.inputs.nmae" in response.content
    assert not Run.objects.exists()


def test_execute_action_runs_the_selected_workflows(admin, admin_user, greeting):
    broken = services.create_workflow(owner=admin_user, name="Broken",
                                      definition=DIVIDE_BY_ZERO)

    response = admin.post("/admin/workflows/workflow/", {
        "action": "execute_selected", "_selected_action": [greeting.pk, broken.pk]})

    assert response.status_code == 200
    assert b"hello world x1" in response.content
    assert b"division by zero" in response.content
    assert sorted(Run.objects.values_list("status", flat=True)) == ["failed", "succeeded"]


def test_runs_are_read_only_and_filterable(admin, admin_user, greeting):
    services.execute_version(greeting.current_version, user=admin_user)
    failed = services.execute_payload(DIVIDE_BY_ZERO, user=admin_user)
    Run.objects.filter(pk=failed.run_id).update(duration_ms=5000)

    listing = admin.get("/admin/workflows/run/")
    assert listing.status_code == 200
    assert b"Add run" not in listing.content
    assert admin.get("/admin/workflows/run/add/").status_code == 403
    slow = admin.get("/admin/workflows/run/?slow=slow")
    assert list(slow.context["cl"].result_list) == [Run.objects.get(pk=failed.run_id)]
    by_status = admin.get("/admin/workflows/run/?status__exact=succeeded")
    assert [r.status for r in by_status.context["cl"].result_list] == ["succeeded"]
    by_workflow = admin.get(f"/admin/workflows/run/?workflow__id__exact={greeting.pk}")
    assert len(by_workflow.context["cl"].result_list) == 1


def test_run_page_lists_node_runs_with_durations_in_start_order(admin, admin_user):
    run_id = services.execute_payload(DIVIDE_BY_ZERO, user=admin_user).run_id

    response = admin.get(f"/admin/workflows/run/{run_id}/change/")

    assert response.status_code == 200
    inline = response.context["inline_admin_formsets"][0]
    node_ids = [form.original.node_id for form in inline]
    assert node_ids == ["a", "zero", "div"]
    assert b"division by zero" in response.content
    assert b"Duration ms" in response.content


def test_greeting_fixture_definition(greeting):
    assert greeting.current_version.definition == GREETING


def test_run_list_counts_at_most_the_cap(admin, admin_user, settings):
    for _ in range(4):
        services.execute_payload(ADD, user=admin_user)
    settings.THAIYYAL_ADMIN_RUN_COUNT_CAP = 3

    response = admin.get("/admin/workflows/run/")

    assert response.context["cl"].result_count == 3


def test_an_old_version_s_definition_can_be_read(admin, greeting, admin_user):
    services.update_workflow(greeting, user=admin_user, definition=ADD)

    response = admin.get(f"/admin/workflows/workflow/{greeting.pk}/versions/1/")

    assert response.status_code == 200
    assert b"context_variable" in response.content
    assert admin.get(f"/admin/workflows/workflow/{greeting.pk}/versions/9/").status_code == 404
