"""The graph pages as the server renders them: the JSON each graph draws, version lists and
comparison, the execute page's prefilled inputs, the lists, `/` and 404 answers."""

from __future__ import annotations

import json
import re
from html import unescape

import pytest
from django.test import Client
from django.utils import timezone

from tests.api.conftest import DIVIDE_BY_ZERO, GREETING
from workflows import services
from workflows.models import Run

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_user(django_user_model):
    return django_user_model.objects.create_superuser("root", "root@example.com", "root-pw-1")


@pytest.fixture
def admin(client: Client, admin_user) -> Client:
    client.force_login(admin_user)
    return client


def graph_json(html: str, element_id: str) -> dict:
    match = re.search(rf'<script id="{element_id}" type="application/json">(.*?)</script>',
                      html, re.S)
    assert match, f"no graph data #{element_id}"
    return json.loads(match.group(1))


def test_run_page_draws_each_node_with_its_outcome_and_the_failing_node(admin, admin_user):
    workflow = services.create_workflow(owner=admin_user, name="Div", definition=DIVIDE_BY_ZERO)
    execution = services.execute_version(workflow.current_version, user=admin_user)

    html = admin.get(f"/admin/workflows/run/{execution.run_id}/change/").content.decode()

    graph = graph_json(html, "run-graph")
    assert graph["definition"] == DIVIDE_BY_ZERO
    assert graph["failed_node"] == "div"
    outcomes = {o["node_id"]: o for o in graph["outcomes"]}
    assert outcomes["div"]["status"] == "failed"
    assert "division by zero" in outcomes["div"]["error"]
    assert outcomes["a"]["status"] == "succeeded"
    assert outcomes["a"]["output"] == 10
    assert "graph-page.js" in html


def test_run_page_has_each_nodes_duration_attempts_and_the_skipped_branch(admin, admin_user):
    """n is 5: the condition's false branch runs, its true branch is skipped; `divide` fails
    on every one of its 3 attempts."""
    definition = {
        "nodes": [{"id": "n", "type": "number", "data": {"value": 5}},
                  {"id": "zero", "type": "number", "data": {"value": 0}},
                  {"id": "big", "type": "condition", "data": {"condition": "input > 100"}},
                  {"id": "yes", "type": "visualization", "data": {}},
                  {"id": "no", "type": "visualization", "data": {}},
                  {"id": "divide", "type": "operation", "data": {
                      "op": "divide",
                      "retry": {"max_attempts": 3, "initial_delay": "1ms"}}}],
        "edges": [{"source": "n", "target": "big"},
                  {"source": "big", "target": "yes", "sourceHandle": "true"},
                  {"source": "big", "target": "no", "sourceHandle": "false"},
                  {"source": "n", "target": "divide"}, {"source": "zero", "target": "divide"}]}
    workflow = services.create_workflow(owner=admin_user, name="Branches", definition=definition)
    execution = services.execute_version(workflow.current_version, user=admin_user)

    html = admin.get(f"/admin/workflows/run/{execution.run_id}/change/").content.decode()

    outcomes = {o["node_id"]: o for o in graph_json(html, "run-graph")["outcomes"]}
    assert {k: o["status"] for k, o in outcomes.items()} == {
        "n": "succeeded", "zero": "succeeded", "big": "succeeded", "yes": "skipped",
        "no": "succeeded", "divide": "failed"}
    assert outcomes["divide"]["attempts"] == 3
    assert outcomes["n"]["attempts"] == 1
    assert all(isinstance(outcomes[k]["duration_ms"], float) and outcomes[k]["duration_ms"] >= 0
               for k in ("n", "big", "no", "divide"))


def test_version_page_draws_its_definition(admin, admin_user):
    workflow = services.create_workflow(owner=admin_user, name="Greet", definition=GREETING)

    html = admin.get(f"/admin/workflows/workflow/{workflow.pk}/versions/1/").content.decode()

    assert graph_json(html, "version-graph") == {"definition": GREETING}


def test_history_button_goes_to_the_version_list(admin, admin_user):
    workflow = services.create_workflow(owner=admin_user, name="Greet", definition=GREETING)

    response = admin.get(f"/admin/workflows/workflow/{workflow.pk}/history/")

    assert response.status_code == 302
    assert response["Location"] == f"/admin/workflows/workflow/{workflow.pk}/versions/"
    listing = admin.get(response["Location"]).content.decode()
    assert "version 1</a> (current)" in listing


def test_compare_marks_added_removed_and_changed_nodes_and_diffs_the_json(admin, admin_user):
    workflow = services.create_workflow(owner=admin_user, name="Div", definition=DIVIDE_BY_ZERO)
    changed = json.loads(json.dumps(DIVIDE_BY_ZERO))
    changed["nodes"][1]["data"]["value"] = 5          # zero: changed
    changed["nodes"][0]["position"] = {"x": 1, "y": 2}  # a: moved only, not a change
    changed["nodes"].append({"id": "extra", "type": "number", "data": {"value": 1}})
    changed["nodes"] = [n for n in changed["nodes"] if n["id"] != "div"]
    changed["edges"] = []
    services.update_workflow(workflow, user=admin_user, definition=changed)

    html = admin.get(f"/admin/workflows/workflow/{workflow.pk}/versions/compare/?a=1&b=2"
                     ).content.decode()

    graph = graph_json(html, "compare-graph")
    assert graph["marks"] == {"zero": "changed", "extra": "added", "div": "removed"}
    assert {n["id"] for n in graph["definition"]["nodes"]} == {"a", "zero", "extra", "div"}
    assert len(graph["definition"]["edges"]) == 2  # the removed edges, drawn
    assert "1 node(s) added, 1 removed, 1 changed" in html
    assert '<span class="del">-        &quot;value&quot;: 0' in html


def test_compare_without_two_versions_returns_to_the_list_with_a_message(admin, admin_user):
    workflow = services.create_workflow(owner=admin_user, name="Greet", definition=GREETING)

    response = admin.get(f"/admin/workflows/workflow/{workflow.pk}/versions/compare/?a=1",
                         follow=True)

    assert response.redirect_chain[-1][0].endswith("/versions/")
    assert "Choose two versions to compare (b is missing)" in response.content.decode()


def test_execute_page_prefills_inputs_from_the_context_variables(admin, admin_user):
    workflow = services.create_workflow(owner=admin_user, name="Greet", definition=GREETING)

    html = admin.get(f"/admin/workflows/workflow/{workflow.pk}/execute/").content.decode()

    textarea = re.search(r'<textarea name="inputs"[^>]*>(.*?)</textarea>', html, re.S)
    assert json.loads(textarea.group(1).replace("&quot;", '"')) == {"name": "world", "times": 1}
    assert "<td><code>name</code></td><td>string</td><td><code>world</code></td>" in html
    assert "<td><code>times</code></td><td>number</td><td><code>1</code></td>" in html


def test_execute_result_shows_the_graph_with_statuses_and_outputs(admin, admin_user):
    workflow = services.create_workflow(owner=admin_user, name="Div", definition=DIVIDE_BY_ZERO)

    html = admin.post(f"/admin/workflows/workflow/{workflow.pk}/execute/",
                      {"version": 1, "inputs": "{}"}).content.decode()

    graph = graph_json(html, f"graph-{workflow.pk}-1")
    assert {o["node_id"]: o["status"] for o in graph["outcomes"]} == {
        "a": "succeeded", "zero": "succeeded", "div": "failed"}
    assert '<div class="timeline-bar failed">' in html
    assert "<td><code>10</code></td>" in html


def test_workflow_list_shows_last_run_and_run_count(admin, admin_user):
    workflow = services.create_workflow(owner=admin_user, name="Div", definition=DIVIDE_BY_ZERO)
    services.create_workflow(owner=admin_user, name="Never run", definition=GREETING)
    for _ in range(2):
        services.execute_version(workflow.current_version, user=admin_user)
    last = Run.objects.order_by("-started_at").first()

    html = admin.get("/admin/workflows/workflow/").content.decode()

    # its status links to it, then its start time to the second (the server's time zone)
    started = timezone.localtime(last.started_at).strftime("%Y-%m-%d %H:%M:%S")
    assert f'<a href="/admin/workflows/run/{last.pk}/change/"><span class="status-pill ' \
           f'status-failed">failed</span></a> {started}' in html
    assert '<td class="field-run_count">2</td>' in html
    assert '<td class="field-last_run">never</td>' in html


def test_run_list_is_compact(admin, admin_user):
    workflow = services.create_workflow(owner=admin_user, name="Div", definition=DIVIDE_BY_ZERO)
    run_id = services.execute_version(workflow.current_version, user=admin_user).run_id

    html = admin.get("/admin/workflows/run/").content.decode()

    assert f'<span title="{run_id}">{str(run_id)[:8]}</span>' in html
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d</td>", html)
    assert '<span class="status-pill status-failed">failed</span>' in html


def test_landing_page_links_what_exists(client, settings):
    html = client.get("/").content.decode()

    for href in ("/admin/", "/api/docs/", "/admin/workflows/run/", "/healthz", "/readyz",
                 "/metrics"):
        assert f'href="{href}"' in html
    assert "/silk/" not in html
    for href in ("/api/docs/", "/healthz", "/readyz", "/admin/"):
        assert client.get(href).status_code in (200, 302)


@pytest.mark.parametrize("debug", [False, True])
def test_unknown_api_path_is_json_404_listing_no_routes(client, settings, debug):
    settings.DEBUG = debug

    response = client.get("/api/v1/no-such-thing")

    assert response.status_code == 404
    assert response.json() == {"success": False, "error": "no such endpoint: /api/v1/no-such-thing",
                               "details": []}


@pytest.mark.parametrize("debug", [False, True])
def test_unknown_page_lists_no_routes(client, settings, debug):
    settings.DEBUG = debug

    response = client.get("/no-such-page")

    assert response.status_code == 404
    body = response.content.decode()
    for route in ("admin/", "api/v1", "URLconf"):
        assert route not in body


def test_a_missing_slash_still_redirects(client):
    assert client.get("/admin")["Location"] == "/admin/"


def test_a_view_only_user_sees_the_workflow_as_a_graph(client, admin_user, django_user_model):
    from django.contrib.auth.models import Permission

    viewer = django_user_model.objects.create_user("viewer", password="viewer-pw-1",
                                                   is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_workflow"))
    workflow = services.create_workflow(owner=admin_user, name="Greet", definition=GREETING)
    client.force_login(viewer)

    html = client.get(f"/admin/workflows/workflow/{workflow.pk}/change/").content.decode()

    assert graph_json(html, "workflow-graph") == {"definition": GREETING}
    assert 'name="definition"' not in html
    # and the JSON, read-only (a form field's read-only display would be "None")
    shown = re.search(r'<pre class="tg-pre">(.*?)</pre>', html, re.S).group(1)
    assert json.loads(unescape(shown)) == GREETING


def test_an_editor_gets_the_editor_not_the_read_only_graph(admin, admin_user):
    workflow = services.create_workflow(owner=admin_user, name="Greet", definition=GREETING)

    html = admin.get(f"/admin/workflows/workflow/{workflow.pk}/change/").content.decode()

    assert 'name="definition"' in html
    assert "editor-page.js" in html
    assert 'id="workflow-graph"' not in html
