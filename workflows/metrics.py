"""Prometheus metrics of the workflow platform and the engine Observer that feeds them.

The names, types, labels and units below are a contract: the PromQL in
docs/performance.md, the alert rules in deploy/prometheus/alerts.yml and the Grafana
dashboard all use them, and a live test runs those against a real Prometheus.

Durations are milliseconds, to match the guide's queries (`... > 5000` means 5 s).
Under gunicorn, prometheus_client's multiprocess mode keeps each worker's values in
files under PROMETHEUS_MULTIPROC_DIR (set before any metric is created; see
workflows.gunicorn_hooks), and /metrics merges them.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import time
from collections.abc import Callable
from typing import Any

import prometheus_client
from django.http import HttpRequest, HttpResponse
from django_prometheus.middleware import Metrics as DjangoMetrics
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.multiprocess import MultiProcessCollector

from engine.observe import NullObserver, Observer
from workflows.metrics_files import scrape_lock
from workflows.opsauth import has_metrics_bearer, is_staff, refused
from workflows.serverproc import ServerProcessCollector

log = logging.getLogger("thaiyyal.runs")

#: 1 ms .. 10 min: a run may last as long as the batch profile's 10m limit.
RUN_BUCKETS_MS = (1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000,
                  60_000, 120_000, 300_000, 600_000)
#: Most nodes take microseconds; HTTP and delay nodes take up to the run limit.
NODE_BUCKETS_MS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000,
                   2500, 5000, 10_000, 30_000, 60_000, 600_000)
HTTP_BUCKETS_MS = (1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000)

RUN_STATUSES = ("succeeded", "failed")
#: ExecutionError codes (engine.errors); pre-created so error-rate queries return 0, not nothing.
FAILURE_REASONS = ("node_error", "limit_exceeded", "timeout", "cancelled", "execution_error",
                   "http_status", "http_error", "http_timeout", "egress_refused")
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_CODE = re.compile(r"[a-z][a-z0-9_]{0,39}")

if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    # Any process with the variable set (a management command in the pod, `thaiyyal serve`
    # before it execs gunicorn) writes metric files there: the directory must exist.
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)

WORKFLOW_EXECUTIONS = Counter(
    "workflow_executions", "Workflow runs finished, by final status.", ["status"])
WORKFLOW_FAILURES = Counter(
    "workflow_executions_failure", "Failed workflow runs, by the error code that stopped them.",
    ["reason"])
WORKFLOW_DURATION = Histogram(
    "workflow_execution_duration", "Wall time of a workflow run, in milliseconds.",
    buckets=RUN_BUCKETS_MS)
WORKFLOWS_IN_PROGRESS = Gauge(
    "workflow_executions_in_progress", "Workflow runs executing now.",
    multiprocess_mode="livesum")
NODE_DURATION = Histogram(
    "node_execution_duration", "Wall time of one node execution, in milliseconds.",
    ["node_type"], buckets=NODE_BUCKETS_MS)
NODE_EXECUTIONS = Counter(
    "node_executions", "Node executions, by node type and outcome.", ["node_type", "status"])
HTTP_CALL_DURATION = Histogram(
    "http_call_duration", "Outbound HTTP calls made by http nodes (cache hits excluded), "
    "in milliseconds; status_class is 2xx..5xx, or 'error' when no response came.",
    ["method", "status_class"], buckets=HTTP_BUCKETS_MS)
HTTP_CACHE_HITS = Counter("http_cache_hits", "HTTP node responses served from the cache.")
HTTP_CACHE_MISSES = Counter("http_cache_misses", "HTTP node cache lookups that missed.")
REQUESTS_IN_PROGRESS = Gauge(
    "thaiyyal_requests_in_progress", "HTTP requests being served now (scrapes excluded).",
    multiprocess_mode="livesum")
WORKER_SLOTS = Gauge(
    "thaiyyal_worker_slots", "Requests the server can serve at once (workers x threads).",
    multiprocess_mode="livesum")

for _status in RUN_STATUSES:
    WORKFLOW_EXECUTIONS.labels(_status)
for _reason in FAILURE_REASONS:
    WORKFLOW_FAILURES.labels(_reason)


def status_class(status: int | None) -> str:
    """200 -> "2xx"; None (no response: refused, timed out, reset) -> "error"."""
    if status is None or not 100 <= status <= 599:
        return "error"
    return f"{status // 100}xx"


def failure_reason(error_code: str | None) -> str:
    if error_code and _CODE.fullmatch(error_code):
        return error_code
    return "execution_error"


@functools.lru_cache(maxsize=1024)
def _node_metrics(node_type: str, status: str) -> tuple[Any, Any]:
    """The labelled children for one node type and status: `labels()` validates and locks
    on every call, and every node of every run ends here (bounded: node types x
    statuses)."""
    return NODE_DURATION.labels(node_type), NODE_EXECUTIONS.labels(node_type, status)


class RunObserver(NullObserver):
    """Feeds the metrics from engine events and logs one JSON line per finished run.

    Make one per run (it is cheap) so the log line carries the platform's run id and
    workflow name; `run_id` defaults to the engine's execution id.
    """

    def __init__(self, run_id: str | None = None, workflow: str | None = None) -> None:
        self.run_id = run_id
        self.workflow = workflow

    def run_started(self, execution_id: str, workflow_id: str | None, node_count: int) -> None:
        WORKFLOWS_IN_PROGRESS.inc()
        if self.workflow is None:
            self.workflow = workflow_id

    def run_finished(self, execution_id: str, status: str, duration_ms: float,
                     error_code: str | None) -> None:
        WORKFLOWS_IN_PROGRESS.dec()
        WORKFLOW_EXECUTIONS.labels(status).inc()
        WORKFLOW_DURATION.observe(duration_ms)
        reason = None
        if status != "succeeded":
            reason = failure_reason(error_code)
            WORKFLOW_FAILURES.labels(reason).inc()
        log.info("run %s", status, extra={
            "event": "run_finished", "run_id": self.run_id or execution_id,
            "execution_id": execution_id, "workflow": self.workflow, "status": status,
            "duration_ms": round(duration_ms, 3), "reason": reason})

    def node_finished(self, execution_id: str, node_id: str, node_type: str, status: str,
                      duration_ms: float, error: str | None) -> None:
        duration, executions = _node_metrics(node_type, status)
        duration.observe(duration_ms)
        executions.inc()

    def http_call(self, method: str, url: str, status: int | None, duration_ms: float,
                  cached: bool) -> None:
        if cached:  # no call went out; counted by cache_lookup
            return
        verb = method.upper()
        HTTP_CALL_DURATION.labels(verb if verb in HTTP_METHODS else "OTHER",
                                  status_class(status)).observe(duration_ms)

    def cache_lookup(self, hit: bool) -> None:
        (HTTP_CACHE_HITS if hit else HTTP_CACHE_MISSES).inc()


class TeeObserver:
    """Forwards every event to several observers (metrics plus a caller's own)."""

    def __init__(self, *observers: Observer) -> None:
        self.observers = observers

    def run_started(self, *args: Any) -> None:
        for o in self.observers:
            o.run_started(*args)

    def run_finished(self, *args: Any) -> None:
        for o in self.observers:
            o.run_finished(*args)

    def node_started(self, *args: Any) -> None:
        for o in self.observers:
            o.node_started(*args)

    def node_finished(self, *args: Any) -> None:
        for o in self.observers:
            o.node_finished(*args)

    def http_call(self, *args: Any) -> None:
        for o in self.observers:
            o.http_call(*args)

    def cache_lookup(self, *args: Any) -> None:
        for o in self.observers:
            o.cache_lookup(*args)


def run_observer(also: Observer | None = None, *, run_id: str | None = None,
                 workflow: str | None = None) -> Observer:
    """The observer for one platform run: metrics and the run log, plus `also` if given."""
    mine = RunObserver(run_id=run_id, workflow=workflow)
    return mine if also is None else TeeObserver(mine, also)


def multiprocess_dir() -> str | None:
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    return path if path and os.path.isdir(path) else None


def _use_server_collector_in_default_registry() -> None:
    # Single-process servers (runserver, tests) export the default registry; give it the
    # same process_* series as multiprocess mode instead of the client's own collector.
    try:
        prometheus_client.REGISTRY.unregister(prometheus_client.PROCESS_COLLECTOR)
    except KeyError:
        return  # done already (module reloaded)
    prometheus_client.REGISTRY.register(ServerProcessCollector())


_use_server_collector_in_default_registry()


def registry() -> CollectorRegistry:
    """What /metrics exports: every worker's metrics merged, plus the whole server's CPU."""
    path = multiprocess_dir()
    if path is None:
        return prometheus_client.REGISTRY
    from workflows.queue_metrics import add_collectors

    merged = CollectorRegistry()
    MultiProcessCollector(merged, path)
    merged.register(ServerProcessCollector(state_dir=path))
    add_collectors(merged)  # queue mode: the broker's queue depth
    return merged


def metrics_view(request: HttpRequest) -> HttpResponse:
    """GET /metrics: Prometheus text format, for a staff user or the scraper's bearer token."""
    if not (has_metrics_bearer(request) or is_staff(request)):
        return refused(request, "metrics need a staff login or "
                                "'Authorization: Bearer <metrics token>'")
    path = multiprocess_dir()
    if path is None:
        body = prometheus_client.generate_latest(registry())
    else:
        with scrape_lock(path):  # a dead worker's files are never half-folded under us
            body = prometheus_client.generate_latest(registry())
    return HttpResponse(body, content_type=prometheus_client.CONTENT_TYPE_LATEST)


#: Paths that do not count as work when measuring saturation (scrapes, probes).
_IDLE_PATHS = ("/metrics", "/healthz", "/readyz")


@functools.lru_cache(maxsize=1024)
def _http_children(view: str, method: str, status: int) -> tuple[Any, Any]:
    """django-prometheus's labelled children for one view, method and status (bounded:
    the URL conf's view names x HTTP_METHODS x statuses)."""
    metrics = DjangoMetrics.get_instance()
    return (metrics.requests_latency_by_view_method.labels(view=view, method=method),
            metrics.responses_by_status_view_method.labels(
                status=str(status), view=view, method=method))


class HttpMetricsMiddleware:
    """Requests in progress (for the worker saturation alert), and django-prometheus's
    latency by view and responses by status, view and method.

    Only those two of django-prometheus's families: its own pair of middlewares updates
    about sixteen series per request (totals by method, by transport, body sizes, latency
    before and after the middlewares, ...), and in multiprocess mode every update is a
    locked write to a memory-mapped file, nearly as much work as the run's own metrics.
    Nothing here queries or alerts on the others.
    """

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> Any:
        if request.path.startswith(_IDLE_PATHS):
            return self.get_response(request)
        REQUESTS_IN_PROGRESS.inc()
        start = time.perf_counter()
        try:
            response = self.get_response(request)
        finally:
            REQUESTS_IN_PROGRESS.dec()
        match = getattr(request, "resolver_match", None)
        view = (match.view_name if match is not None else None) or "<unnamed view>"
        method = request.method if request.method in HTTP_METHODS else "<invalid method>"
        latency, responses = _http_children(view, method, response.status_code)
        latency.observe(time.perf_counter() - start)
        responses.inc()
        return response


def register_worker(threads: int) -> None:
    """Called once in each worker (gunicorn post_worker_init): it adds `threads` slots."""
    WORKER_SLOTS.set(max(1, threads))
