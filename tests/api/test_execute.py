"""POST /api/v1/workflow/execute: ad-hoc runs, their answers, their records, every error."""

from __future__ import annotations

import json

import pytest

from tests.api.conftest import ADD, DIVIDE_BY_ZERO
from workflows.models import NodeRun, Run

pytestmark = pytest.mark.django_db
URL = "/api/v1/workflow/execute"


def test_execute_returns_results_and_records_the_run(api, user):
    response = api.post(URL, ADD, format="json")

    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    assert body["status"] == "succeeded"
    assert body["results"]["final_output"] == 5
    assert body["results"]["node_results"] == {"a": 2, "b": 3, "sum": 5}
    assert [n["id"] for n in body["nodes"]] == ["a", "b", "sum"]
    assert body["execution_time_ms"] >= 0
    run = Run.objects.get(pk=body["run_id"])
    assert (run.status, run.final_output, run.requested_by, run.version) == (
        "succeeded", 5, user, None)
    assert run.execution_id == body["results"]["execution_id"]
    assert run.node_count == 3
    stored = NodeRun.objects.filter(run=run).order_by("started_offset_ms")
    assert [(n.node_id, n.status, n.output) for n in stored] == [
        ("a", "succeeded", 2), ("b", "succeeded", 3), ("sum", "succeeded", 5)]


def test_trailing_slash_is_optional(api):
    assert api.post(URL + "/", ADD, format="json").status_code == 200


def test_failed_run_is_422_with_partial_results_and_the_failing_node(api):
    response = api.post(URL, DIVIDE_BY_ZERO, format="json")

    assert response.status_code == 422
    body = response.json()
    assert body["success"] is False
    assert body["status"] == "failed"
    assert body["failed_node"] == "div"
    assert "division by zero" in body["error"]
    assert body["details"] == [{"path": "$.nodes[2]", "message": body["error"],
                                "code": "node_error"}]
    assert body["results"]["node_results"] == {"a": 10, "zero": 0}
    assert {n["id"]: n["status"] for n in body["nodes"]}["div"] == "failed"
    run = Run.objects.get(pk=body["run_id"])
    assert run.status == "failed"
    assert run.error["node_id"] == "div"


def test_invalid_workflow_is_400_with_every_problem_and_its_path(api):
    payload = {"nodes": [{"id": "a", "type": "no_such_type", "data": {}},
                         {"id": "b", "type": "number", "data": {"value": "lots"}}],
               "edges": [{"source": "a", "target": "missing"}]}

    response = api.post(URL, payload, format="json")

    assert response.status_code == 400
    body = response.json()
    assert body["success"] is False
    assert body["error"] == "invalid workflow"
    paths = {d["path"] for d in body["details"]}
    assert "$.nodes[0].type" in paths
    assert any(p.startswith("$.nodes[1].data") for p in paths)
    assert any(p.startswith("$.edges[0]") for p in paths)
    assert not Run.objects.exists()


def test_body_that_is_not_an_object_is_400(api):
    response = api.post(URL, [1, 2], format="json")
    assert response.status_code == 400
    assert response.json()["details"][0]["path"] == "$"


def test_malformed_json_is_400(api):
    response = api.post(URL, data='{"nodes": [', content_type="application/json")

    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "malformed JSON"
    assert body["details"][0]["path"] == "$"


@pytest.mark.parametrize("body", [
    "[" * 100_000 + "]" * 100_000,        # nested past the decoder's recursion limit
    b'{"nodes": "\xff"}',                 # not UTF-8
    '{"nodes": [], "edges": []} trailing',
    '{"nodes": NaN}',
])
def test_any_malformed_body_is_400_never_500(api, body):
    response = api.post(URL, data=body, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"] == "malformed JSON"


def test_wrong_content_type_is_415(api):
    response = api.post(URL, data="nodes=1", content_type="text/plain")

    assert response.status_code == 415
    assert response.json()["success"] is False


def test_body_over_the_limit_is_413_json(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2048
    big = {**ADD, "padding": "x" * 4096}

    response = api.post(URL, big, format="json")

    assert response.status_code == 413
    assert response.json()["success"] is False
    assert "2048" in response.json()["error"]


def test_default_body_limit_is_one_mebibyte(api):
    big = json.dumps({**ADD, "padding": "x" * (1024 * 1024)})

    response = api.post(URL, data=big, content_type="application/json")

    assert response.status_code == 413


def test_unauthenticated_is_401(anon):
    response = anon.post(URL, ADD, format="json")

    assert response.status_code == 401
    assert response.json()["success"] is False
    assert response["WWW-Authenticate"].startswith("Token")


def test_bad_token_is_401(anon):
    anon.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert anon.post(URL, ADD, format="json").status_code == 401


def test_session_without_csrf_token_is_403(user):
    from rest_framework.test import APIClient

    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)

    response = client.post(URL, ADD, format="json")

    assert response.status_code == 403
    assert "CSRF" in response.json()["error"]


def test_session_login_can_execute(user):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_login(user)
    assert client.post(URL, ADD, format="json").status_code == 200


def test_too_many_executions_are_429(api, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {
        **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "execute": "2/min"}}

    statuses = [api.post(URL, ADD, format="json").status_code for _ in range(3)]

    assert statuses == [200, 200, 429]
    response = api.post(URL, ADD, format="json")
    assert response.json()["success"] is False
    assert int(response["Retry-After"]) > 0


def test_request_can_lower_a_limit(api):
    response = api.post(URL + "?max_node_executions=2", ADD, format="json")

    assert response.status_code == 422
    body = response.json()
    assert body["results"]["error"]["code"] == "limit_exceeded"
    run = Run.objects.get(pk=body["run_id"])
    assert run.limits["max_node_executions"] == 2


def test_request_cannot_raise_a_limit(api, settings):
    response = api.post(URL + "?max_execution_time=1h&max_node_executions=999999999",
                        ADD, format="json")

    assert response.status_code == 200
    run = Run.objects.get(pk=response.json()["run_id"])
    assert run.limits["max_execution_time"] == settings.THAIYYAL_LIMITS["max_execution_time"]
    assert run.limits["max_node_executions"] == settings.THAIYYAL_LIMITS["max_node_executions"]


def test_bad_limit_value_is_400_naming_the_parameter(api):
    response = api.post(URL + "?max_execution_time=soon&max_http_calls=-1", ADD, format="json")

    assert response.status_code == 400
    assert response.json()["error"] == "invalid limits"
    paths = {d["path"] for d in response.json()["details"]}
    assert paths == {"$.query.max_execution_time", "$.query.max_http_calls"}


def test_adhoc_runs_are_not_recorded_when_turned_off(api, settings):
    settings.THAIYYAL_RECORD_ADHOC_RUNS = False

    response = api.post(URL, ADD, format="json")

    assert response.status_code == 200
    assert response.json()["run_id"] is None
    assert not Run.objects.exists()


def test_node_output_beyond_the_cap_is_stored_as_a_preview(api, settings):
    settings.THAIYYAL_NODE_OUTPUT_MAX_BYTES = 20
    payload = {"nodes": [{"id": "t", "type": "text_input", "data": {"text": "y" * 100}}],
               "edges": []}

    response = api.post(URL, payload, format="json")

    assert response.json()["results"]["final_output"] == "y" * 100  # the client gets it all
    node = NodeRun.objects.get(run_id=response.json()["run_id"])
    assert node.output_truncated is True
    assert node.output == {"preview": '"' + "y" * 19, "size": 102}


def test_unknown_api_path_is_json_404(api):
    response = api.get("/api/v1/no-such-thing")

    assert response.status_code == 404
    assert response.json()["success"] is False


def test_wrong_method_is_json_405(api):
    response = api.get(URL)

    assert response.status_code == 405
    assert response.json()["success"] is False


@pytest.fixture
def http_server():
    from tests.httpserver import LoopbackHTTPServer

    server = LoopbackHTTPServer().start()
    yield server
    server.stop()


def test_http_nodes_obey_the_operator_allowlist(api, settings, http_server):
    payload = {"nodes": [{"id": "get", "type": "http", "data": {"url": http_server.url("/json")}}],
               "edges": []}

    refused = api.post(URL, payload, format="json")
    settings.THAIYYAL_HTTP_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    allowed = api.post(URL, payload, format="json")

    assert refused.status_code == 422
    assert refused.json()["results"]["error"]["code"] == "egress_refused"
    assert allowed.status_code == 200
    assert allowed.json()["results"]["final_output"]["hello"] == "world"
    assert http_server.hits("/json") == 1
