"""The answer and the record agree (issue 9, item 1): 200 is a `succeeded` row with its
output and node runs, 422 a `failed` row with the error, and a result that cannot be
encoded as JSON is a failed run, never a 500 with the run recorded `succeeded`.

The running-row timer is on (0 ms) and the database is transactional, so the timer's own
insert races the final write as it does in production."""

from __future__ import annotations

import json
import sys

import pytest
from django.db import connection
from django.test import override_settings

from tests.api.conftest import ADD, token_client
from workflows import services
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


@pytest.mark.parametrize(("payload", "code", "node_id"), [
    (HUGE_PRODUCT, "node_error", "m"), (DEEP_ARRAY, "limit_exceeded", "nest")],
    ids=["huge-int", "deep-array"])
def test_a_result_json_cannot_hold_is_a_failed_run_not_a_500(client, payload, code, node_id):
    response = _post(client, payload)

    assert response.status_code == 422, response.content[:500]
    body = response.json()
    assert body["success"] is False
    assert body["status"] == "failed"
    run = _run_of(response)
    assert run.status == "failed"
    assert run.error["message"] == body["error"]
    # The engine's rules catch these at the node that made them, before any encoder.
    assert (run.error["code"], run.error["node_id"]) == (code, node_id)
    assert run.finished_at is not None
    # The node runs are kept (with the outputs that could be stored).
    assert NodeRun.objects.filter(run=run).count() == len(payload["nodes"])


def test_no_run_is_left_running_or_succeeded_without_an_answer_of_200(client):
    for payload in (ADD, HUGE_PRODUCT, DEEP_ARRAY, ADD):
        response = _post(client, payload)
        run = _run_of(response)
        expected = {200: "succeeded", 422: "failed"}[response.status_code]
        assert run.status == expected


@pytest.fixture
def refused_node_runs():
    """A real fault at the final write: PostgreSQL refuses any node run of a node named
    `poison` (a trigger), so the run's result cannot be stored while the database is up."""
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION refuse_poison() RETURNS trigger AS $$ BEGIN "
            "IF NEW.node_id = 'poison' THEN RAISE EXCEPTION 'node run refused by test'; "
            "END IF; RETURN NEW; END $$ LANGUAGE plpgsql")
        cursor.execute("CREATE TRIGGER refuse_poison BEFORE INSERT ON workflows_noderun "
                       "FOR EACH ROW EXECUTE FUNCTION refuse_poison()")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TRIGGER refuse_poison ON workflows_noderun")
            cursor.execute("DROP FUNCTION refuse_poison()")


POISONED = {"nodes": [{"id": "poison", "type": "number", "data": {"value": 7}}], "edges": []}


@pytest.mark.parametrize("running_row_after_ms", [0, 60_000],
                         ids=["running-row-first", "one-insert"])
def test_a_result_the_database_refuses_is_a_json_500_and_a_failed_row(
        client, refused_node_runs, running_row_after_ms):
    if connection.vendor != "postgresql":
        pytest.skip("a PostgreSQL trigger is the fault")
    with override_settings(THAIYYAL_RUNNING_ROW_AFTER_MS=running_row_after_ms):
        response = _post(client, POISONED)

    assert response.status_code == 500
    assert response.json() == {"success": False, "error": "internal server error",
                               "details": []}
    run = Run.objects.get(requested_by__username="rita")
    assert run.status == "failed"
    assert run.error["code"] == "recording_failed"
    assert "node run refused by test" in run.error["message"]
    assert run.finished_at is not None
    assert not NodeRun.objects.filter(run=run).exists()


def test_an_answer_that_cannot_be_built_is_recorded_internal_error_before_it_surfaces(
        django_user_model):
    user = django_user_model.objects.create_user("ivan")

    def broken_encoder(execution):
        raise RuntimeError("encoder defect")

    with pytest.raises(RuntimeError, match="encoder defect"):
        services.execute_payload(ADD, user=user, record=True, answer=broken_encoder)
    run = Run.objects.get(requested_by=user)
    assert run.status == "failed"
    assert run.error == {"code": "internal_error", "node_id": None,
                         "message": "RuntimeError: encoder defect"}
    assert not NodeRun.objects.filter(run=run).exists()


def test_a_result_the_encoder_cannot_write_is_recorded_and_answered_unencodable(
        django_user_model):
    """The last line of defence: the engine's number and depth rules already make the
    issue's cases node errors, but an encoder that still refuses a result (ValueError,
    RecursionError, TypeError) gets a failed run to answer, and the record says the same."""
    user = django_user_model.objects.create_user("ursula")

    def strict_encoder(execution):
        if execution.result.status == "succeeded":
            raise ValueError("Exceeds the limit (4300 digits) for integer string conversion")
        return (execution.result.status, execution.result.error)

    execution = services.execute_payload(ADD, user=user, record=True, answer=strict_encoder)

    status, error = execution.answer
    assert status == "failed"
    assert error["code"] == "unencodable_result"
    run = Run.objects.get(pk=execution.run_id)
    assert (run.status, run.error) == ("failed", error)
    assert run.final_output is None
    assert NodeRun.objects.filter(run=run).count() == 3  # statuses and timings are kept
