"""Metrics fed by real runs through the API, and who may read /metrics."""

from __future__ import annotations

import json
import logging

import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from engine import Workflow
from tests.observability.workflows import ADD, DIVIDE_BY_ZERO, http_get
from workflows.metrics import RunObserver, failure_reason, run_observer, status_class

EXECUTE = "/api/v1/workflow/execute"
pytestmark = pytest.mark.django_db


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_successful_and_failed_runs_are_counted_by_status_and_reason(api):
    before = (value("workflow_executions_total", status="succeeded"),
              value("workflow_executions_total", status="failed"),
              value("workflow_executions_failure_total", reason="node_error"),
              value("workflow_execution_duration_count"))
    assert api.post(EXECUTE, ADD, format="json").status_code == 200
    assert api.post(EXECUTE, ADD, format="json").status_code == 200
    assert api.post(EXECUTE, DIVIDE_BY_ZERO, format="json").status_code == 422
    after = (value("workflow_executions_total", status="succeeded"),
             value("workflow_executions_total", status="failed"),
             value("workflow_executions_failure_total", reason="node_error"),
             value("workflow_execution_duration_count"))
    assert [b - a for a, b in zip(before, after, strict=True)] == [2, 1, 1, 3]


def test_run_duration_is_observed_in_milliseconds():
    wf = Workflow.load({"nodes": [{"id": "d", "type": "delay", "data": {"duration": "120ms"}}],
                        "edges": []})
    below_100 = value("workflow_execution_duration_bucket", le="100.0")
    below_250 = value("workflow_execution_duration_bucket", le="250.0")
    total = value("workflow_execution_duration_sum")
    wf.execute(observer=RunObserver())
    assert value("workflow_execution_duration_bucket", le="100.0") == below_100
    assert value("workflow_execution_duration_bucket", le="250.0") == below_250 + 1
    assert 115 <= value("workflow_execution_duration_sum") - total < 250


def test_buckets_span_one_millisecond_to_ten_minutes():
    family = next(m for m in REGISTRY.collect() if m.name == "workflow_execution_duration")
    buckets = [s.labels["le"] for s in family.samples if s.name.endswith("_bucket")]
    assert buckets[0] == "1.0"
    assert buckets[-2:] == ["600000.0", "+Inf"]


def test_node_time_and_outcomes_are_recorded_by_node_type(api):
    ok = value("node_executions_total", node_type="operation", status="succeeded")
    failed = value("node_executions_total", node_type="operation", status="failed")
    timed = value("node_execution_duration_count", node_type="number")
    api.post(EXECUTE, ADD, format="json")
    api.post(EXECUTE, DIVIDE_BY_ZERO, format="json")
    assert value("node_executions_total", node_type="operation", status="succeeded") == ok + 1
    assert value("node_executions_total", node_type="operation", status="failed") == failed + 1
    assert value("node_execution_duration_count", node_type="number") == timed + 4


def test_http_calls_are_timed_by_method_and_status_class_and_cache_use_counted(
        api, http_server, loopback_allowed):
    calls = value("http_call_duration_count", method="GET", status_class="2xx")
    errors = value("http_call_duration_count", method="GET", status_class="5xx")
    hits, misses = value("http_cache_hits_total"), value("http_cache_misses_total")
    cached = http_get(http_server.url("/json?metrics=cache"), cache=True)
    assert api.post(EXECUTE, cached, format="json").status_code == 200
    assert api.post(EXECUTE, cached, format="json").status_code == 200  # from the cache
    assert api.post(EXECUTE, http_get(http_server.url("/status?code=503")),
                    format="json").status_code == 422
    # The cache hit made no call: one 2xx call, one 5xx call.
    assert value("http_call_duration_count", method="GET", status_class="2xx") == calls + 1
    assert value("http_call_duration_count", method="GET", status_class="5xx") == errors + 1
    assert value("http_cache_hits_total") == hits + 1
    assert value("http_cache_misses_total") == misses + 1


def test_status_classes_and_failure_reasons_stay_a_small_set():
    assert [status_class(s) for s in (200, 301, 404, 503, None, 0, 999)] == [
        "2xx", "3xx", "4xx", "5xx", "error", "error", "error"]
    assert failure_reason("limit_exceeded") == "limit_exceeded"
    assert failure_reason(None) == "execution_error"
    assert failure_reason("Weird Code!" * 10) == "execution_error"


def test_a_broken_caller_observer_does_not_stop_the_metrics():
    class Broken:
        def __getattr__(self, name):
            raise RuntimeError("broken sink")

    before = value("workflow_executions_total", status="succeeded")
    Workflow.load(ADD).execute(observer=run_observer(Broken()))
    assert value("workflow_executions_total", status="succeeded") == before + 1


def test_each_finished_run_logs_one_json_line_with_run_id_workflow_status_duration(
        api, caplog):
    caplog.set_level(logging.INFO, logger="thaiyyal.runs")
    body = api.post(EXECUTE, DIVIDE_BY_ZERO, format="json").json()
    (record,) = [r for r in caplog.records if r.name == "thaiyyal.runs"]
    from workflows.logs import JsonFormatter

    line = json.loads(JsonFormatter().format(record))
    assert line["run_id"] == body["run_id"]
    assert line["status"] == "failed"
    assert line["reason"] == "node_error"
    assert line["duration_ms"] >= 0
    assert line["level"] == "INFO"
    assert line["logger"] == "thaiyyal.runs"
    assert "workflow" in line


# --- /metrics ------------------------------------------------------------------------


def test_metrics_are_refused_to_anonymous_users_and_non_staff(client, api):
    assert client.get("/metrics").status_code == 403
    response = api.get("/metrics")
    assert response.status_code == 403
    assert "staff" in response.json()["detail"]


def test_metrics_answer_the_scraper_bearer_token_only_when_it_matches(client, monkeypatch):
    monkeypatch.setenv("THAIYYAL_METRICS_TOKEN", "s3cret-scrape-token")
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Token s3cret-scrape-token"
                      ).status_code == 403
    ok = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-scrape-token")
    assert ok.status_code == 200
    assert ok["Content-Type"].startswith("text/plain; version=")


def test_an_unset_metrics_token_never_matches(client, monkeypatch):
    monkeypatch.delenv("THAIYYAL_METRICS_TOKEN", raising=False)
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 403


def test_staff_read_metrics_with_a_session_or_their_api_token(staff_session, staff_api):
    assert staff_session.get("/metrics").status_code == 200
    assert staff_api.get("/metrics").status_code == 200


def test_metrics_page_has_every_contract_metric_with_its_type(staff_session, api):
    api.post(EXECUTE, ADD, format="json")
    text = staff_session.get("/metrics").content.decode()
    families = {f.name: f.type for f in text_string_to_metric_families(text)}
    expected = {
        "workflow_executions": "counter", "workflow_executions_failure": "counter",
        "workflow_execution_duration": "histogram", "node_execution_duration": "histogram",
        "node_executions": "counter", "http_call_duration": "histogram",
        "http_cache_hits": "counter", "http_cache_misses": "counter",
        "process_cpu_seconds": "counter", "thaiyyal_cpu_cores": "gauge",
        "thaiyyal_requests_in_progress": "gauge", "thaiyyal_worker_slots": "gauge",
        "django_http_requests_latency_seconds_by_view_method": "histogram",
    }
    assert {name: families.get(name) for name in expected} == expected
    assert text.count("\nprocess_cpu_seconds_total ") == 1  # one, for the whole server


def test_refused_metrics_and_pprof_credentials_count_against_the_anonymous_rate(
        client, monkeypatch, api, settings):
    from rest_framework.test import APIClient

    monkeypatch.setenv("THAIYYAL_METRICS_TOKEN", "s3cret-scrape-token")
    settings.THAIYYAL_PPROF = True
    guesses = ([client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer guess-{i}").status_code
                for i in range(20)]
               + [client.get("/metrics", HTTP_AUTHORIZATION="Token " + "7" * 40).status_code
                  for _ in range(20)]
               + [client.get("/debug/pprof/", HTTP_AUTHORIZATION="Token " + "8" * 40
                             ).status_code for _ in range(10)])
    # a non-staff user's real token and a session-less anonymous request are not guesses
    assert api.get("/metrics").status_code == 403
    assert APIClient().get("/metrics").status_code == 403
    bad_api = APIClient()
    bad_api.credentials(HTTP_AUTHORIZATION="Token " + "9" * 40)
    guesses += [bad_api.get("/api/v1/workflows/").status_code for _ in range(10)]

    # The anonymous rate is 60/min for the address, shared with the API's refused tokens.
    assert guesses == [403] * 50 + [401] * 10
    throttled = client.get("/metrics", HTTP_AUTHORIZATION="Bearer guess-61")
    assert throttled.status_code == 429
    assert int(throttled["Retry-After"]) > 0
    assert client.get("/debug/pprof/", HTTP_AUTHORIZATION="Token " + "8" * 40
                      ).status_code == 429
    assert bad_api.get("/api/v1/workflows/").status_code == 429
    # the scraper's own token still opens /metrics from that address
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-scrape-token"
                      ).status_code == 200


def test_http_requests_are_timed_by_view_and_counted_by_status_and_probes_are_not(api, client):
    view = "workflow-execute"
    latency = ("django_http_requests_latency_seconds_by_view_method_count",
               {"view": view, "method": "POST"})
    answered = ("django_http_responses_total_by_status_view_method_total",
                {"status": "200", "view": view, "method": "POST"})
    before = (REGISTRY.get_sample_value(*latency) or 0, REGISTRY.get_sample_value(*answered) or 0)
    assert api.post(EXECUTE, ADD, format="json").status_code == 200
    assert api.post(EXECUTE, ADD, format="json").status_code == 200
    client.get("/healthz")
    after = (REGISTRY.get_sample_value(*latency), REGISTRY.get_sample_value(*answered))
    assert (after[0] - before[0], after[1] - before[1]) == (2, 2)
    assert REGISTRY.get_sample_value(
        "django_http_requests_latency_seconds_by_view_method_sum", latency[1]) > 0
    # the rest of django-prometheus's families are not updated per request
    assert not REGISTRY.get_sample_value("django_http_requests_total_by_method_total",
                                         {"method": "POST"})
