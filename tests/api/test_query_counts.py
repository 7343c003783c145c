"""Committed query-count baselines (tests/api/query_counts.json): an N+1 fails the day it
lands. Transaction control (BEGIN, SAVEPOINT, COMMIT...) is not counted, so the numbers
are the same on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.api.conftest import ADD

pytestmark = pytest.mark.django_db
BASELINES = json.loads((Path(__file__).parent / "query_counts.json").read_text())
CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")


def statements(capture: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in capture.captured_queries
            if not q["sql"].lstrip().upper().startswith(CONTROL)]


def count(client, method: str, url: str, **kwargs) -> int:
    with CaptureQueriesContext(connection) as capture:
        response = getattr(client, method)(url, **kwargs)
    assert response.status_code < 300, response.content
    return len(statements(capture))


def test_adhoc_execute(api):
    api.post("/api/v1/workflow/execute", ADD, format="json")  # warm the loaded-workflow cache
    assert count(api, "post", "/api/v1/workflow/execute", data=ADD, format="json") == (
        BASELINES["execute_adhoc"])


def test_stored_execute(api, adder):
    url = f"/api/v1/workflows/{adder.pk}/execute"
    api.post(url, format="json")
    assert count(api, "post", url, format="json") == BASELINES["execute_stored"]


@pytest.mark.parametrize("page_size", [1, 5, 50])
def test_run_list_costs_the_same_whatever_the_page_size(api, adder, page_size):
    for _ in range(20):
        api.post(f"/api/v1/workflows/{adder.pk}/execute", format="json")
        api.post("/api/v1/workflow/execute", ADD, format="json")

    assert count(api, "get", f"/api/v1/runs/?page_size={page_size}") == BASELINES["run_list"]


def test_run_detail(api):
    run_id = api.post("/api/v1/workflow/execute", ADD, format="json").json()["run_id"]
    assert count(api, "get", f"/api/v1/runs/{run_id}") == BASELINES["run_detail"]


def test_adhoc_execute_with_an_idempotency_key(api):
    api.post("/api/v1/workflow/execute", ADD, format="json")
    assert count(api, "post", "/api/v1/workflow/execute", data=ADD, format="json",
                 HTTP_IDEMPOTENCY_KEY="first") == BASELINES["execute_adhoc_idempotent"]
    assert count(api, "post", "/api/v1/workflow/execute", data=ADD, format="json",
                 HTTP_IDEMPOTENCY_KEY="first") == BASELINES["execute_replay"]


def test_stored_execute_with_an_idempotency_key(api, adder):
    url = f"/api/v1/workflows/{adder.pk}/execute"
    api.post(url, format="json")
    assert count(api, "post", url, format="json", HTTP_IDEMPOTENCY_KEY="first") == (
        BASELINES["execute_stored_idempotent"])
    assert count(api, "post", url, format="json", HTTP_IDEMPOTENCY_KEY="first") == (
        BASELINES["execute_replay"])
