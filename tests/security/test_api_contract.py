"""The API contract, fuzzed: schemathesis over every operation of the published schema
(examples, coverage, fuzzing and stateful phases) against a real `thaiyyal serve` on
PostgreSQL. No 5xx, no status the schema does not document, no response that breaks its
schema. A short run here; `make fuzz-api` runs a long one."""

from __future__ import annotations

import os
from pathlib import Path

import jsonschema
import pytest
from django.db import connection
from django.test import Client
from rest_framework.authtoken.models import Token

from engine import Workflow
from engine.json_schema import EXAMPLE, component_name, payload_components
from engine.nodes.base import NODE_TYPES
from tests.platform.serving import database_url, serve, server_environment
from tests.security.contract import ALL_PHASES, SHORT_PHASES, run_schemathesis, summary

#: `make fuzz-api` sets THAIYYAL_CONTRACT_LONG=1: every phase, many more examples
LONG = os.environ.get("THAIYYAL_CONTRACT_LONG") == "1"
EXAMPLES = int(os.environ.get("THAIYYAL_CONTRACT_EXAMPLES", "150" if LONG else "10"))
#: the long run's time budget (fuzzing and stateful testing repeat until it is spent);
#: the short run stops after its examples
MAX_TIME = int(os.environ.get("THAIYYAL_CONTRACT_MAX_TIME", "1800")) if LONG else None


def _payload_schema() -> dict:
    return {"$ref": "#/$defs/WorkflowPayload", "$defs": payload_components("#/$defs/")}


def test_the_payload_schema_has_every_node_type_and_its_declared_fields():
    components = payload_components()
    for type_name, cls in NODE_TYPES.items():
        node = next(c for c in components.values()
                    if c.get("properties", {}).get("type", {}).get("enum") == [type_name])
        assert set(node["properties"]["data"]["properties"]) == {f.name for f in cls.fields}
        assert set(node["properties"]["data"].get("required", [])) == {
            f.name for f in cls.fields if f.required}
    assert len(components["WorkflowNode"]["oneOf"]) == len(NODE_TYPES)


@pytest.mark.parametrize("type_name", sorted(NODE_TYPES))
def test_every_node_type_has_an_example_valid_for_its_schema_and_the_engine(type_name):
    components = payload_components("#/$defs/")
    node = components[component_name(type_name)]
    example = node["example"]
    assert example["type"] == type_name
    jsonschema.validate(example, {**node, "$defs": components})
    assert Workflow.load({"nodes": [example], "edges": []}).node_count == 1


def test_the_example_is_valid_for_the_schema_and_the_engine_and_bad_nodes_are_not():
    jsonschema.validate(EXAMPLE, _payload_schema())
    assert Workflow.load(EXAMPLE).node_count == 3
    for bad in ({"nodes": [{"id": "a", "type": "number", "data": {}}]},
                {"nodes": [{"id": "a", "type": "nope"}]},
                {"nodes": [{"id": "a", "type": "http", "data": {"method": "fetch"}}]},
                {"edges": []}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, _payload_schema())


@pytest.mark.django_db
def test_the_published_schema_describes_payloads_statuses_and_links():
    schema = Client().get("/api/schema/?format=json").json()
    paths = schema["paths"]
    execute = paths["/api/v1/workflow/execute/"]["post"]
    assert execute["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/WorkflowPayload"}
    assert {"200", "202", "400", "401", "403", "409", "413", "415", "422", "429",
            "503"} <= set(execute["responses"])
    assert execute["responses"]["202"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/RunDetail"}
    assert "Location" in execute["responses"]["202"]["headers"]
    parameters = {(p["in"], p["name"]): p for p in execute["parameters"]}
    assert parameters[("header", "Prefer")]["schema"]["enum"] == ["respond-async"]
    assert ("query", "callback_url") in parameters
    for path in ("/api/v1/workflows/{id}/execute/",
                 "/api/v1/workflows/{id}/versions/{number}/execute/",
                 "/api/v1/workflow/execute/{id}/"):
        operation = paths[path]["post"]
        assert "202" in operation["responses"], path
        assert ("header", "Prefer") in {(p["in"], p["name"]) for p in operation["parameters"]}
    stored_body = schema["components"]["schemas"]["ExecuteStoredRequest"]["properties"]
    assert "callback_url" in stored_body
    components = schema["components"]["schemas"]
    for component in ("Workflow", "VersionDetail", "RunDetail", "WorkflowWrite"):
        assert components[component]["properties"]["definition"]["allOf"] == [
            {"$ref": "#/components/schemas/WorkflowPayload"}], component
    assert components["RunDetail"]["properties"]["definition"]["nullable"] is True
    hook = paths["/api/v1/hooks/{secret}/"]["post"]["responses"]
    assert {"200", "202", "404", "422", "429", "503"} <= set(hook)
    assert "404" in paths["/api/v1/runs/"]["get"]["responses"]  # a cursor that is no more
    create = paths["/api/v1/workflows/"]["post"]["responses"]["201"]
    assert create["links"]["ExecuteWorkflow"]["operationId"] == "v1_workflows_execute_create"
    assert create["links"]["ExecuteVersion"]["parameters"] == {
        "id": "$response.body#/id", "number": "$response.body#/version"}
    # every operation that takes an id from another's answer is linked to (the webhook's
    # secret is never in an answer)
    linked = {link["operationId"] for item in paths.values() for operation in item.values()
              for response in operation["responses"].values()
              for link in response.get("links", {}).values()}
    by_id = {operation["operationId"] for path, item in paths.items() if "{" in path
             for operation in item.values()}
    assert by_id - linked == {"webhook_run"}
    assert set(execute["responses"]["202"]["links"]) == {
        "GetQueuedRun", "CancelQueuedRun", "DeleteQueuedRun"}
    write = schema["components"]["schemas"]["WorkflowWriteRequest"]
    assert write["properties"]["definition"] == {"$ref": "#/components/schemas/WorkflowPayload"}


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout((MAX_TIME or 300) + 600)
def test_schemathesis_finds_no_5xx_undocumented_status_or_schema_violation(
        django_user_model, tmp_path):
    from tests.queue.conftest import Queue, broker_url

    user = django_user_model.objects.create_user("fuzzer", password="fuzzer-password-1")
    token = Token.objects.create(user=user).key
    # Queue mode on (the real RabbitMQ, a queue of its own, no worker): `Prefer:
    # respond-async` and async-mode workflows answer 202 with the queued run, as the
    # schema says. The runs-in-flight cap is off: queued runs nobody runs would fill it
    # and leave every execute a 429 (the cap has its own tests).
    queue = Queue(broker_url(), f"thaiyyal-contract-{os.getpid()}")
    env = server_environment(database_url(connection.settings_dict), tmp_path / "var",
                             THAIYYAL_MAX_EXECUTION_TIME="2s", THAIYYAL_THROTTLE_ANON="off",
                             THAIYYAL_THROTTLE_USER="off", THAIYYAL_THROTTLE_EXECUTE="off",
                             THAIYYAL_BROKER_URL=queue.url, THAIYYAL_QUEUE=queue.name,
                             THAIYYAL_MAX_RUNS_IN_FLIGHT="0")
    try:
        _fuzz(env, token, tmp_path)
    finally:
        queue.delete()


def _fuzz(env: dict[str, str], token: str, tmp_path: Path) -> None:
    with serve(env, tmp_path / "server.log", "--workers", "2") as server:
        schema = server.request("GET", "/api/schema/?format=json")[1]
        published = {f"{method.upper()} {path}" for path, operations in schema["paths"].items()
                     for method in operations}
        outcome = run_schemathesis(server.base, token, tmp_path / "report", EXAMPLES,
                                   phases=ALL_PHASES if LONG else SHORT_PHASES,
                                   max_time=MAX_TIME)
        log = server.output()

    (tmp_path / "schemathesis.txt").write_text(outcome.output)
    print("schemathesis:", summary(outcome), "output:", tmp_path / "schemathesis.txt")
    assert outcome.requests > 200, outcome.output[-3000:]
    assert outcome.server_errors == 0, (outcome.output[-6000:], log[-3000:])
    assert outcome.failures == [], outcome.output[-8000:]
    assert outcome.exit_code == 0, outcome.output[-8000:]
    assert outcome.operations == published, sorted(published ^ outcome.operations)
    # the Prefer header's example reaches the queue: 202s were checked against the schema
    assert outcome.statuses.get(202, 0) > 0, outcome.statuses


@pytest.mark.django_db
def test_definitions_in_answers_match_the_payload_schema_they_are_published_with(admin_user):
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(admin_user)
    created = api.post("/api/v1/workflows/", {"name": "w", "definition": EXAMPLE},
                       format="json").json()
    run = api.post(f"/api/v1/workflows/{created['id']}/execute/", {}, format="json").json()
    answers = [created, api.get(f"/api/v1/workflows/{created['id']}/").json(),
               api.get(f"/api/v1/workflows/{created['id']}/versions/1/").json(),
               api.get(f"/api/v1/runs/{run['run_id']}").json()]
    for answer in answers:
        jsonschema.validate(answer["definition"], _payload_schema())
