"""OpenAPI post-processing: the workflow payload described for real (a JSON Schema built
from the engine's node declarations, engine/json_schema.py), every status each operation
can answer, and links between operations for stateful testing (schemathesis)."""

from __future__ import annotations

from typing import Any

from engine.json_schema import EXAMPLE, payload_components

#: answered by any endpoint (auth, throttling, body checks happen before the view)
COMMON = {
    "400": "invalid request (paths in details)",
    "401": "not authenticated",
    "403": "forbidden",
    "413": "request body too large",
    "415": "body is not application/json",
    "429": "throttled (Retry-After says when to retry)",
    "503": "the database is unreachable (Retry-After says when to retry)",
}
ERROR_REF = {"$ref": "#/components/schemas/Error"}
PAYLOAD_REF = {"$ref": "#/components/schemas/WorkflowPayload"}
EXECUTION_REF = {"$ref": "#/components/schemas/ExecutionResponse"}

#: operations whose whole body is a workflow payload
PAYLOAD_BODIES = {"workflow_execute", "workflow_validate"}
#: request components whose field holds a workflow payload
PAYLOAD_FIELDS = {"WorkflowWriteRequest": "definition",
                  "PatchedWorkflowWriteRequest": "definition",
                  "ThaiyyalSaveRequestRequest": "data"}
#: response components whose field holds a stored workflow payload (validated when it was
#: saved, so it matches the schema requests are held to)
RESPONSE_PAYLOAD_FIELDS = {"Workflow": "definition", "VersionDetail": "definition",
                           "RunDetail": "definition", "WorkflowWrite": "definition"}
#: answered by gunicorn before the application sees the request (plain text)
SERVER = {"414": "request line too long (gunicorn's limit, 4094 bytes: the URL and "
                 "its query)"}
#: operations taking a workflow id in their body: an id that is not one of yours is a 404
ID_IN_BODY = {"thaiyyal_workflow_save"}
#: list operations: a page or cursor that does not exist is a 404
PAGED = {"v1_workflows_list", "v1_runs_list", "v1_credentials_list",
         "v1_workflows_versions_list"}


#: the execute operations (200: a run in the request; 202: a queued run)
EXECUTES = ("workflow_execute", "v1_workflows_execute_create",
            "v1_workflows_versions_execute_create", "thaiyyal_workflow_execute_by_id")


def _link(operation_id: str, parameter: str, expression: str) -> dict[str, Any]:
    return {"operationId": operation_id, "parameters": {parameter: expression}}


#: (operation, status) -> links to the operations that use what it answered
LINKS: dict[tuple[str, str], dict[str, dict[str, Any]]] = {
    ("v1_workflows_create", "201"): {
        name: _link(op, "id", "$response.body#/id") for name, op in (
            ("GetWorkflow", "v1_workflows_retrieve"),
            ("UpdateWorkflow", "v1_workflows_update"),
            ("PatchWorkflow", "v1_workflows_partial_update"),
            ("ExecuteWorkflow", "v1_workflows_execute_create"),
            ("ListVersions", "v1_workflows_versions_list"),
            ("DeleteWorkflow", "v1_workflows_destroy"),
            ("LoadWorkflow", "thaiyyal_workflow_load"),
            ("ExecuteWorkflowById", "thaiyyal_workflow_execute_by_id"))},
    ("thaiyyal_workflow_save", "201"): {
        name: _link(op, "id", "$response.body#/id") for name, op in (
            ("LoadSaved", "thaiyyal_workflow_load"),
            ("ExecuteSaved", "thaiyyal_workflow_execute_by_id"),
            ("DeleteSaved", "thaiyyal_workflow_delete"),
            ("GetSaved", "v1_workflows_retrieve"))},
    ("v1_credentials_create", "201"): {
        name: _link(op, "id", "$response.body#/id") for name, op in (
            ("GetCredential", "v1_credentials_retrieve"),
            ("UpdateCredential", "v1_credentials_update"),
            ("PatchCredential", "v1_credentials_partial_update"),
            ("DeleteCredential", "v1_credentials_destroy"))},
    **{(op, "200"): {name: _link(linked, "id", "$response.body#/run_id")
                     for name, linked in (("GetRun", "v1_runs_retrieve"),
                                          ("CancelRun", "v1_runs_cancel_create"),
                                          ("DeleteRun", "v1_runs_destroy"))}
       for op in EXECUTES},
    # a queued run (202): its id, to follow, cancel or delete it
    **{(op, "202"): {name: _link(linked, "id", "$response.body#/id")
                     for name, linked in (("GetQueuedRun", "v1_runs_retrieve"),
                                          ("CancelQueuedRun", "v1_runs_cancel_create"),
                                          ("DeleteQueuedRun", "v1_runs_destroy"))}
       for op in EXECUTES},
}
# A created workflow's current version: read it and run it.
for _name, _operation in (("GetVersion", "v1_workflows_versions_retrieve"),
                          ("ExecuteVersion", "v1_workflows_versions_execute_create")):
    LINKS[("v1_workflows_create", "201")][_name] = {
        "operationId": _operation,
        "parameters": {"id": "$response.body#/id", "number": "$response.body#/version"}}


def add_error_responses(result: dict[str, Any], generator: Any, request: Any,
                        public: bool) -> dict[str, Any]:
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(payload_components())
    for component, field in PAYLOAD_FIELDS.items():
        if component in schemas:
            schemas[component]["properties"][field] = {**PAYLOAD_REF}
    for component, field in RESPONSE_PAYLOAD_FIELDS.items():
        if component in schemas:
            generated = schemas[component]["properties"][field]
            # OpenAPI 3.0 ignores a $ref's siblings: allOf keeps nullable and readOnly.
            schemas[component]["properties"][field] = {
                "allOf": [{**PAYLOAD_REF}],
                **{k: v for k, v in generated.items()
                   if k in ("nullable", "readOnly", "description")}}
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            operation_id = operation.get("operationId", "")
            responses = operation.setdefault("responses", {})
            codes = dict(COMMON)
            if "{" in path:
                codes["404"] = "not found"
            if operation_id in PAGED:
                codes["404"] = "no such page or cursor"
            if operation_id in ID_IN_BODY:
                codes["404"] = "the id in the body names no workflow of yours"
            if method in ("get", "delete"):
                codes.pop("415")
            for code, description in codes.items():
                responses.setdefault(code, {
                    "description": description,
                    "content": {"application/json": {"schema": ERROR_REF}},
                })
            failed = responses.get("422", {}).get("content", {}).get("application/json")
            if failed and failed.get("schema") == EXECUTION_REF:
                # A run that failed, or (an error) an Idempotency-Key reused for another
                # request: a failed run's answer has the error's fields too, hence anyOf.
                failed["schema"] = {"anyOf": [EXECUTION_REF, ERROR_REF]}
            for code, description in SERVER.items():
                responses.setdefault(code, {"description": description})
            if operation_id in PAYLOAD_BODIES:
                operation["requestBody"] = {
                    "required": True,
                    "content": {"application/json": {"schema": PAYLOAD_REF,
                                                     "example": EXAMPLE}}}
            for (linked, status), links in LINKS.items():
                if linked == operation_id and status in responses:
                    responses[status]["links"] = links
    return result
