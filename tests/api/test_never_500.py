"""Whatever a client sends, the API answers with a 4xx or a 2xx JSON body, never a 500.

Hypothesis builds workflow-shaped documents from node types, field names and awkward
values (NUL, lone surrogates, huge and non-finite numbers, deep lists) and posts them to
the endpoints that take user JSON."""

from __future__ import annotations

import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.nodes.base import NODE_TYPES
from tests.api.conftest import token_client

pytestmark = pytest.mark.django_db

AWKWARD_TEXT = st.sampled_from(["", "x", "\x00", "a\x00b", "\ud800", "\udfff x", "😀",
                                "input > 1", "item.", "node.a.b", "1/0", "'", "{{url}}",
                                "http://127.0.0.1/", "10m", "-1", "NaN"])
SCALARS = (st.none() | st.booleans() | st.integers(min_value=-2**70, max_value=2**70)
           | st.floats(allow_nan=False, allow_infinity=False) | AWKWARD_TEXT
           | st.text(max_size=6))
FIELDS = st.sampled_from(["value", "text", "op", "expression", "condition", "field",
                          "fields", "cases", "body", "url", "retry", "timeout", "items",
                          "context_values", "start", "end", "step", "input_type",
                          "transform_type", "duration", "max_iterations", "schema"])
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(FIELDS | st.text(max_size=3), inner, max_size=3),
                      max_leaves=12)
NODES = st.fixed_dictionaries({
    "id": st.sampled_from(["a", "b", "c", "a\x00"]),
    "type": st.sampled_from(sorted(NODE_TYPES) + ["", "nope"]),
    "data": st.dictionaries(FIELDS, VALUES, max_size=4),
})
EDGES = st.fixed_dictionaries({"source": st.sampled_from(["a", "b", "c"]),
                               "target": st.sampled_from(["a", "b", "c"])},
                              optional={"sourceHandle": st.sampled_from(["true", "false"])})
WORKFLOWS = st.fixed_dictionaries({"nodes": st.lists(NODES, max_size=3)},
                                  optional={"edges": st.lists(EDGES, max_size=3)})


def body(document: object) -> str:
    # ensure_ascii keeps lone surrogates as \u escapes, as a real client would send them
    return json.dumps(document, ensure_ascii=True)


@settings(max_examples=int(os.environ.get("THAIYYAL_FUZZ_EXAMPLES", "60")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(WORKFLOWS)
def test_execute_and_validate_never_answer_500(admin_user, document):
    client = token_client(admin_user)
    for url in ("/api/v1/workflow/execute?max_execution_time=2s", "/api/v1/workflow/validate"):
        response = client.post(url, data=body(document), content_type="application/json")
        assert response.status_code < 500, (url, response.content[:500])
        assert response["Content-Type"].startswith("application/json")


@settings(max_examples=int(os.environ.get("THAIYYAL_FUZZ_EXAMPLES", "30")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(WORKFLOWS, AWKWARD_TEXT)
def test_saving_workflows_never_answers_500(admin_user, document, name):
    client = token_client(admin_user)
    response = client.post("/api/v1/workflows/", data=body(
        {"name": name or "n", "definition": document}), content_type="application/json")
    assert response.status_code < 500, response.content[:500]
