"""/api/v1/runs/: history newest first, filters, cursor pages, detail with node runs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.api.conftest import ADD, DIVIDE_BY_ZERO, token_client
from workflows.models import Run

pytestmark = pytest.mark.django_db
URL = "/api/v1/runs/"


def run_adhoc(client, payload=ADD):
    return client.post("/api/v1/workflow/execute", payload, format="json").json()["run_id"]


def test_runs_are_listed_newest_first(api):
    ids = [run_adhoc(api) for _ in range(3)]

    body = api.get(URL).json()

    assert [r["id"] for r in body["results"]] == list(reversed(ids))
    assert body["results"][0]["status"] == "succeeded"
    assert body["results"][0]["workflow"] is None
    assert body["results"][0]["requested_by"] == "alice"


def test_pages_follow_the_cursor(api):
    ids = [run_adhoc(api) for _ in range(5)]

    first = api.get(URL + "?page_size=2").json()
    second = api.get(first["next"]).json()
    third = api.get(second["next"]).json()

    seen = [r["id"] for page in (first, second, third) for r in page["results"]]
    assert seen == list(reversed(ids))
    assert third["next"] is None


def test_filter_by_status(api):
    run_adhoc(api)
    failed = run_adhoc(api, DIVIDE_BY_ZERO)

    body = api.get(URL + "?status=failed").json()

    assert [r["id"] for r in body["results"]] == [failed]


def test_filter_by_trigger(api, adder):
    run_adhoc(api)
    hooked = api.post(f"/api/v1/workflows/{adder.pk}/execute", format="json").json()["run_id"]
    Run.objects.filter(pk=hooked).update(trigger="webhook")

    body = api.get(URL + "?trigger=webhook").json()

    assert [r["id"] for r in body["results"]] == [hooked]
    assert body["results"][0]["trigger"] == "webhook"
    assert api.get(URL + "?trigger=carrier-pigeon").status_code == 400


def test_filter_by_workflow(api, adder):
    run_adhoc(api)
    stored = api.post(f"/api/v1/workflows/{adder.pk}/execute", format="json").json()["run_id"]

    body = api.get(f"{URL}?workflow={adder.pk}").json()

    assert [r["id"] for r in body["results"]] == [stored]
    assert body["results"][0]["workflow_name"] == "Adder"
    assert body["results"][0]["version"] == 1


def test_filter_by_min_duration_and_dates(api):
    fast, slow = run_adhoc(api), run_adhoc(api)
    Run.objects.filter(pk=slow).update(duration_ms=2500)
    Run.objects.filter(pk=fast).update(duration_ms=1,
                                       started_at=timezone.now() - timedelta(days=3))

    assert [r["id"] for r in api.get(URL + "?min_duration_ms=1000").json()["results"]] == [
        slow]
    day_ago = (timezone.now() - timedelta(days=1)).isoformat()
    after = api.get(URL, {"started_after": day_ago}).json()["results"]
    before = api.get(URL, {"started_before": day_ago}).json()["results"]
    assert [r["id"] for r in after] == [slow]
    assert [r["id"] for r in before] == [fast]


def test_bad_filter_is_400_naming_the_parameter(api):
    response = api.get(URL + "?status=exploded&min_duration_ms=fast")

    assert response.status_code == 400
    assert {d["path"] for d in response.json()["details"]} == {
        "$.query.status", "$.query.min_duration_ms"}


def test_detail_has_node_runs_in_start_order(api):
    run_id = run_adhoc(api, DIVIDE_BY_ZERO)

    body = api.get(f"{URL}{run_id}").json()

    assert body["status"] == "failed"
    assert body["error"]["node_id"] == "div"
    assert body["limits"]["max_execution_time"] == 30.0
    assert [n["node_id"] for n in body["node_runs"]] == ["a", "zero", "div"]
    offsets = [n["started_offset_ms"] for n in body["node_runs"]]
    assert offsets == sorted(offsets)
    assert body["node_runs"][2]["error"] == "division by zero"
    assert body["worker_pid"] > 0


def test_users_see_only_their_own_runs(api, other_user):
    mine = run_adhoc(api)
    theirs = run_adhoc(token_client(other_user))

    assert [r["id"] for r in api.get(URL).json()["results"]] == [mine]
    assert api.get(f"{URL}{theirs}").status_code == 404


def test_staff_see_every_run(api, staff_user):
    run_adhoc(api)
    assert len(token_client(staff_user).get(URL).json()["results"]) == 1


def test_deleting_a_run_is_forbidden_to_non_staff(api):
    run_id = run_adhoc(api)

    response = api.delete(f"{URL}{run_id}")

    assert response.status_code == 403
    assert response.json() == {"success": False, "error": "only staff may delete run history",
                               "details": []}
    assert Run.objects.filter(pk=run_id).exists()


def test_staff_can_delete_a_run(api, staff_user):
    run_id = run_adhoc(api)

    assert token_client(staff_user).delete(f"{URL}{run_id}").status_code == 204
    assert not Run.objects.filter(pk=run_id).exists()


def test_unknown_run_is_404(api):
    assert api.get(f"{URL}01234567-89ab-7def-8123-456789abcdef").status_code == 404


def test_unauthenticated_is_401(anon):
    assert anon.get(URL).status_code == 401


def test_nodes_that_never_ran_come_last(api):
    branching = {"nodes": [{"id": "a", "type": "number", "data": {"value": 5}},
                           {"id": "check", "type": "condition", "data": {"condition": ">10"}},
                           {"id": "big", "type": "expression", "data": {"expression": "input"}},
                           {"id": "small", "type": "expression", "data": {"expression": "input"}}],
                 "edges": [{"source": "a", "target": "check"},
                           {"source": "check", "target": "big", "sourceHandle": "true"},
                           {"source": "check", "target": "small", "sourceHandle": "false"}]}
    run_id = run_adhoc(api, branching)

    nodes = api.get(f"{URL}{run_id}").json()["node_runs"]

    assert [(n["node_id"], n["status"]) for n in nodes] == [
        ("a", "succeeded"), ("check", "succeeded"), ("small", "succeeded"), ("big", "skipped")]
