"""The answer and the record agree (issue 9, item 1): 200 is a `succeeded` row with its
output and node runs, 422 a `failed` row with the error, and a result that cannot be
encoded as JSON is a failed run, never a 500 with the run recorded `succeeded`.

The running-row timer is on (0 ms) and the database is transactional, so the timer's own
insert races the final write as it does in production."""

from __future__ import annotations

import json
import sys

import pytest
from django.test import override_settings

from tests.api.conftest import ADD, token_client
from workflows.models import NodeRun, Run

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("_running_row_at_once")]
URL = "/api/v1/workflow/execute"

NINES = int("9" * 300)
#: two 300-digit numbers multiplied: past the float range, which the engine's number rule
#: (JavaScript's) holds every result to (a 4000-digit literal is refused at load, a 400)
HUGE_PRODUCT = {
    "nodes": [{"id": "a", "type": "number", "data": {"value": NINES}},
              {"id": "b", "type": "number", "data": {"value": NINES}},
              {"id": "m", "type": "operation", "data": {"op": "multiply"}}],
    "edges": [{"source": "a", "target": "m"}, {"source": "b", "target": "m"}],
}
#: an array nested 990 deep: deeper than the JSON encoder can go below a web request's stack
DEEP_ARRAY = {
    "nodes": [
        {"id": "start", "type": "expression", "data": {"expression": "[0, []]"}},
        {"id": "loop", "type": "while_loop", "data": {
            "condition": "input[0] < 990", "max_iterations": 1000,
            "body": {"nodes": [{"id": "nest", "type": "expression",
                                "data": {"expression": "[input[0] + 1, [input[1]]]"}}],
                     "edges": []}}}],
    "edges": [{"source": "start", "target": "loop"}],
}


@pytest.fixture
def _running_row_at_once():
    with override_settings(THAIYYAL_RUNNING_ROW_AFTER_MS=0):
        yield


def _post(client, payload):
    limit = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)  # only to write the request body
    try:
        body = json.dumps(payload)
    finally:
        sys.set_int_max_str_digits(limit)
    return client.post(URL, body, content_type="application/json")


@pytest.fixture
def client(django_user_model):
    client = token_client(django_user_model.objects.create_user("rita"))
    client.raise_request_exception = False
    return client


def _run_of(response) -> Run:
    assert response["Content-Type"] == "application/json", response.content[:300]
    return Run.objects.get(pk=response.json()["run_id"])


def test_success_is_a_succeeded_row_with_its_output_and_node_runs(client):
    response = _post(client, ADD)

    assert response.status_code == 200
    run = _run_of(response)
    assert (run.status, run.final_output) == ("succeeded", 5)
    assert NodeRun.objects.filter(run=run).count() == 3


@pytest.mark.parametrize("payload", [HUGE_PRODUCT, DEEP_ARRAY], ids=["huge-int", "deep-array"])
def test_a_result_json_cannot_hold_is_a_failed_run_not_a_500(client, payload):
    response = _post(client, payload)

    assert response.status_code == 422, response.content[:500]
    body = response.json()
    assert body["success"] is False
    assert body["status"] == "failed"
    run = _run_of(response)
    assert run.status == "failed"
    assert run.error["message"] == body["error"]
    assert run.finished_at is not None
    # The node runs are kept (with the outputs that could be stored).
    assert NodeRun.objects.filter(run=run).count() == len(payload["nodes"])


def test_no_run_is_left_running_or_succeeded_without_an_answer_of_200(client):
    for payload in (ADD, HUGE_PRODUCT, DEEP_ARRAY, ADD):
        response = _post(client, payload)
        run = _run_of(response)
        expected = {200: "succeeded", 422: "failed"}[response.status_code]
        assert run.status == expected
