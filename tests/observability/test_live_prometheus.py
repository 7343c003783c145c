"""The live check: a real Prometheus scrapes a two-worker `thaiyyal serve` on loopback, and
every PromQL query in docs/performance.md (and in the Grafana dashboard) returns data with
sensible values. The alert rules load and evaluate; promtool checks and unit-tests them.

Prometheus comes from Debian's `prometheus` package (.ci/run installs it). Without it the
test fails in CI and skips elsewhere, saying how to install it.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.httpserver import LoopbackHTTPServer
from tests.observability.liveserver import (
    ROOT,
    Prometheus,
    Server,
    require_tool,
    start_prometheus,
    start_server,
    stop,
    wait_for,
    worker_pids,
)
from tests.observability.workflows import ADD, DIVIDE_BY_ZERO, http_get, slow
from workflows.serverproc import read_stat

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]
DOCS = ROOT / "docs" / "performance.md"
DASHBOARD = ROOT / "deploy" / "grafana" / "thaiyyal.json"
ROUNDS = 3
SIX_NODES = json.loads((ROOT / "deploy/loadtest/workflow.json").read_text())


def doc_queries() -> list[str]:
    """Every query in the ```promql blocks of docs/performance.md: one per line, `#` lines
    are comments."""
    blocks = re.findall(r"```promql\n(.*?)```", DOCS.read_text(), re.S)
    return [line.strip() for block in blocks for line in block.splitlines()
            if line.strip() and not line.strip().startswith("#")]


def dashboard_queries(queue_mode: bool = False) -> list[str]:
    """The dashboard's queries: the web tier's, or (queue_mode) the queue panels', whose
    metrics only workers and a broker produce (tests/queue/test_queue_site.py)."""
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [t["expr"] for p in panels for t in p["targets"]
            if p["title"].startswith(("Queue", "Worker processes")) == queue_mode]


@pytest.fixture(scope="module")
def loopback() -> Iterator[LoopbackHTTPServer]:
    server = LoopbackHTTPServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory,
         loopback: LoopbackHTTPServer) -> Iterator[tuple[Server, Prometheus, dict[str, Any]]]:
    """Server and Prometheus after three rounds of traffic, each round between scrapes so
    that every series increases inside Prometheus's windows."""
    require_tool("prometheus")
    tmp = tmp_path_factory.mktemp("live-prometheus")
    server = start_server(tmp, workers=2)
    prometheus = None
    try:
        prometheus = start_prometheus(tmp, server)
        wait_for(lambda: prometheus.query('up{job="thaiyyal"} == 1'), 30, "a first scrape")
        sent = {"ok": 0, "failed": 0}
        for round_no in range(ROUNDS):
            drive_traffic(server, loopback, round_no, sent)
            time.sleep(1.6)  # at least one scrape between rounds
        runs = sent["ok"] + sent["failed"]
        wait_for(lambda: _scalar(prometheus, "sum(workflow_executions_total)") == runs, 30,
                 f"Prometheus to see all {runs} runs")
        yield server, prometheus, sent
    finally:
        if prometheus is not None:
            stop(prometheus.process)
        stop(server.process)


def drive_traffic(server: Server, loopback: LoopbackHTTPServer, round_no: int,
                  sent: dict[str, int]) -> None:
    ok = [ADD, ADD, SIX_NODES, SIX_NODES, slow(30), http_get(loopback.url("/json"))]
    cached = http_get(loopback.url(f"/json?round={round_no}"), cache=True)
    ok += [cached] * 3  # a miss in each worker, then hits
    for payload in ok:
        assert server.execute(payload) == 200
    failing = [DIVIDE_BY_ZERO, http_get(loopback.url("/status?code=503"))]
    for payload in failing:
        assert server.execute(payload) == 422
    sent["ok"] += len(ok)
    sent["failed"] += len(failing)


def _scalar(prometheus: Prometheus, promql: str) -> float | None:
    result = prometheus.query(promql)
    return float(result[0]["value"][1]) if result else None


def _values(result: list[dict[str, Any]]) -> list[float]:
    return [float(r["value"][1]) for r in result]


def check_sensible(query: str, result: list[dict[str, Any]]) -> None:
    """What every documented query must show after the traffic above."""
    assert result, f"no data for {query}"
    values = _values(result)
    assert all(math.isfinite(v) and v >= 0 for v in values), (query, values)
    if "histogram_quantile" in query:
        assert all(0 < v <= 600_000 for v in values), (query, values)  # milliseconds
    if "workflow_executions_failure_total[5m])) / sum(rate(workflow_executions_total" in query:
        assert 0 < values[0] < 1, (query, values)  # 2 of 11 runs fail each round
    if "http_cache_hits_total[5m])) /" in query:
        assert 0 < values[0] < 1, (query, values)
    if "thaiyyal_worker_slots" in query or "thaiyyal_cpu_cores" in query:
        assert all(v <= 1.5 for v in values), (query, values)
    if query.startswith("sum by (status)"):
        assert {r["metric"]["status"] for r in result} == {"succeeded", "failed"}
    if "le, node_type" in query:
        types = {r["metric"]["node_type"] for r in result}
        assert {"number", "operation", "http", "delay", "expression"} <= types, types
    if "le, method, status_class" in query:
        classes = {(r["metric"]["method"], r["metric"]["status_class"]) for r in result}
        assert {("GET", "2xx"), ("GET", "5xx")} <= classes, classes
    if "process_cpu_seconds_total[5m]))" in query and "/" not in query:
        assert 0 < values[0] < 2.5, (query, values)  # cores, on a 2-core machine


def test_the_docs_have_the_queries_the_guide_needs():
    queries = doc_queries()
    assert len(queries) >= 15
    assert ("histogram_quantile(0.95, sum by (le, node_type) "
            "(rate(node_execution_duration_bucket[5m])))") in queries
    # The seed guide's form is not PromQL; it is quoted in prose only, never as a query.
    assert not any(q.endswith(") by (node_type)") for q in queries)


def test_every_documented_promql_query_returns_sensible_data_from_a_live_prometheus(live):
    _, prometheus, _ = live
    seen = {}
    for query in doc_queries():
        result = prometheus.query(query)
        check_sensible(query, result)
        seen[query] = {json.dumps(r["metric"], sort_keys=True): r["value"][1] for r in result}
    print("\nlive PromQL results:\n" + json.dumps(seen, indent=1))


def test_every_dashboard_query_returns_data(live):
    _, prometheus, _ = live
    for query in dashboard_queries():
        check_sensible(query, prometheus.query(query))


def test_counters_match_the_traffic_sent_across_both_workers(live):
    server, prometheus, sent = live
    assert _scalar(prometheus, 'sum(workflow_executions_total{status="succeeded"})') == sent["ok"]
    assert _scalar(prometheus, 'sum(workflow_executions_total{status="failed"})') == sent["failed"]
    assert _scalar(prometheus, "sum(workflow_executions_failure_total)") == sent["failed"]
    assert _scalar(prometheus, "sum(thaiyyal_worker_slots)") == 2
    # Both workers ran something: their counters were merged, not one worker's alone.
    pids = worker_pids(server.master_pid)
    assert len(pids) == 2


def test_process_cpu_counts_the_whole_server_not_one_worker(live):
    server, _, _ = live
    pids = [server.master_pid, *worker_pids(server.master_pid)]
    before = sum(s.cpu_seconds for s in map(read_stat, pids) if s)
    workers = [s.cpu_seconds for s in map(read_stat, pids[1:]) if s]
    for _ in range(4):  # several scrapes: whichever worker answers, the same total
        status, body, _ = server.request("GET", "/metrics", token=server.metrics_token,
                                         scheme="Bearer")
        assert status == 200
        (line,) = [x for x in body.decode().splitlines()
                   if x.startswith("process_cpu_seconds_total ")]
        value = float(line.split()[1])
        after = sum(s.cpu_seconds for s in map(read_stat, pids) if s)
        assert before - 0.05 <= value <= after + 0.05
        assert value > max(workers)  # more than any single worker
        before = value


def test_alert_rules_load_and_evaluate_in_the_live_prometheus(live):
    _, prometheus, _ = live

    def evaluated() -> list[dict[str, Any]]:
        groups = prometheus.api("rules", type="alert")["groups"]
        rules = [r for g in groups for r in g["rules"]]
        return rules if rules and all(r.get("lastEvaluation", "").startswith("2")
                                      and r["health"] == "ok" for r in rules) else []

    rules = wait_for(evaluated, 15, "every alert rule to be evaluated")
    assert {r["name"] for r in rules} == {"HighErrorRate", "SlowExecution", "HighCPU",
                                          "WorkerSaturation", "ThaiyyalDown",
                                          "QueueBacklogGrowing", "QueueWorkerDown"}
    # The traffic is fast and the target is up: neither of these may be pending or firing.
    states = {r["name"]: r["state"] for r in rules}
    assert states["SlowExecution"] == "inactive"
    assert states["ThaiyyalDown"] == "inactive"


def test_metrics_refuse_a_scrape_without_the_bearer_token(live):
    server, _, _ = live
    status, _, _ = server.request("GET", "/metrics", token="not-the-token", scheme="Bearer")
    assert status == 403


# --- promtool -----------------------------------------------------------------------


def _promtool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([require_tool("promtool"), *args], cwd=ROOT, capture_output=True,
                          text=True, check=False, timeout=60)


def test_promtool_checks_the_alert_rules():
    done = _promtool("check", "rules", "deploy/prometheus/alerts.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 7 rules found" in done.stdout


def test_promtool_unit_tests_show_each_alert_firing_and_not_firing():
    done = _promtool("test", "rules", "deploy/prometheus/alerts.test.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    tests = (ROOT / "deploy/prometheus/alerts.test.yml").read_text()
    for alert in ("HighErrorRate", "SlowExecution", "HighCPU", "WorkerSaturation",
                  "ThaiyyalDown", "QueueBacklogGrowing", "QueueWorkerDown"):
        assert f"alertname: {alert}\n        exp_alerts: []" in tests, f"{alert} never silent"
        assert re.search(rf"alertname: {alert}\n        exp_alerts:\n", tests), \
            f"{alert} never fires"


def test_promtool_accepts_the_shipped_scrape_config(tmp_path: Path):
    import yaml

    config = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    token = tmp_path / "token"
    token.write_text("t")
    config["scrape_configs"][0]["authorization"]["credentials_file"] = str(token)
    config["rule_files"] = [str(ROOT / "deploy/prometheus/alerts.yml")]
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    done = _promtool("check", "config", str(path))
    assert done.returncode == 0, done.stdout + done.stderr
