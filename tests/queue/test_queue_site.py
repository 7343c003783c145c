"""Queue mode across processes, for real: two `thaiyyal serve` instances, two `thaiyyal
worker`s and the scheduler on one PostgreSQL and the machine's RabbitMQ (127.0.0.1 only).
Runs are submitted on one web instance and followed or cancelled on the other; a worker
is SIGKILLed mid-run."""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import os
import re
import signal
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from tests.faultproxy import postgres_url
from tests.httpserver import LoopbackHTTPServer
from tests.observability import liveserver
from tests.observability.test_live_prometheus import dashboard_queries
from tests.queue.conftest import Queue, broker_url
from tests.queue.site import ANON_RATE, CALLBACK_SECRET, Site, site_environment

pytestmark = pytest.mark.slow

ASYNC = {"Prefer": "respond-async"}


def fetch(url: str) -> dict[str, Any]:
    return {"nodes": [{"id": "fetch", "type": "http", "data": {"url": url}}], "edges": []}


def run_row(run_id: str) -> dict[str, Any]:
    with psycopg.connect(postgres_url(), autocommit=True) as conn:
        row = conn.execute(
            "SELECT status, error, worker_pid, (SELECT count(*) FROM workflows_noderun n "
            "WHERE n.run_id = r.id) FROM workflows_run r WHERE id = %s", [run_id]).fetchone()
    assert row is not None, run_id
    return {"status": row[0], "error": row[1], "worker_pid": row[2], "node_runs": row[3]}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    postgres_url()
    broker = broker_url()
    env = site_environment(broker)
    site = Site(tmp_path_factory.mktemp("site"), env, Queue(broker, env["THAIYYAL_QUEUE"]))
    try:
        site.serve()
        site.serve()
        site.metrics_port = liveserver.free_port()  # type: ignore[attr-defined]
        site.worker("w1", THAIYYAL_WORKER_METRICS_BIND=f"127.0.0.1:{site.metrics_port}",
                    THAIYYAL_PPROF="1")
        site.worker("w2")
        site.start("scheduler", name="scheduler")
        yield site
    finally:
        site.stop()
        site.queue.delete()


def submit(server: liveserver.Server, payload: dict[str, Any]) -> str:
    status, body, headers = server.request("POST", "/api/v1/workflow/execute", payload,
                                           headers=ASYNC)
    assert status == 202, body
    run = json.loads(body)
    assert headers["Location"] == f"/api/v1/runs/{run['id']}"
    return str(run["id"])


def get_run(server: liveserver.Server, run_id: str) -> dict[str, Any]:
    status, body, _ = server.request("GET", f"/api/v1/runs/{run_id}")
    assert status == 200, body
    return dict(json.loads(body))


def wait_status(server: liveserver.Server, run_id: str, statuses: set[str],
                timeout: float = 30) -> dict[str, Any]:
    return dict(liveserver.wait_for(
        lambda: (r := get_run(server, run_id))["status"] in statuses and r, timeout,
        f"run {run_id} to be {statuses}", interval=0.05))


def test_a_run_submitted_on_one_instance_is_followed_and_cancelled_from_the_other(
        site: Site, http_server: LoopbackHTTPServer) -> None:
    a, b = site.servers
    run_id = submit(a, fetch(http_server.url("/slow?delay=20")))
    running = wait_status(b, run_id, {"running"})
    assert running["worker_pid"]
    started = time.monotonic()
    status, body, _ = b.request("POST", f"/api/v1/runs/{run_id}/cancel")
    answered = time.monotonic() - started
    assert status == 200, body
    assert json.loads(body)["status"] == "cancelled"
    print(f"\ncancel of a run waiting on I/O: recorded cancelled in {answered * 1000:.0f} ms")
    assert answered < 1.0
    run = get_run(a, run_id)
    assert run["status"] == "cancelled"
    assert run["error"]["code"] == "cancelled"


def test_a_synchronous_run_is_cancelled_too_and_its_client_told_so(
        site: Site, http_server: LoopbackHTTPServer) -> None:
    a, b = site.servers
    answers: list[tuple[int, bytes]] = []
    payload = fetch(http_server.url("/slow?delay=20&tag=sync-cancel"))
    client = threading.Thread(target=lambda: answers.append(
        a.request("POST", "/api/v1/workflow/execute", payload)[:2]))
    client.start()
    assert http_server.wait_for_hits("/slow", 1, timeout=10)
    run_id = liveserver.wait_for(latest_running_run, 10,
                                 "the running row")
    status, body, _ = b.request("POST", f"/api/v1/runs/{run_id}/cancel")
    assert status == 200, body
    client.join(5)
    (code, answer), = answers
    assert code == 422
    assert json.loads(answer)["status"] == "cancelled"
    assert run_row(run_id)["status"] == "cancelled"


def latest_running_run() -> str | None:
    """The newest `running` row (the site's tests run one at a time)."""
    with psycopg.connect(postgres_url(), autocommit=True) as conn:
        row = conn.execute("SELECT id FROM workflows_run WHERE status = 'running' AND "
                           "workflow_id IS NULL AND trigger = 'api' "
                           "ORDER BY started_at DESC LIMIT 1").fetchone()
    return str(row[0]) if row else None


def test_a_queued_run_shows_its_node_runs_so_far_while_it_runs(
        site: Site, http_server: LoopbackHTTPServer) -> None:
    a, b = site.servers
    payload = {"nodes": [{"id": "first", "type": "number", "data": {"value": 1}},
                         {"id": "fetch", "type": "http",
                          "data": {"url": http_server.url("/slow?delay=2")}}],
               "edges": [{"source": "first", "target": "fetch"}]}
    run_id = submit(a, payload)
    seen = liveserver.wait_for(
        lambda: (r := get_run(b, run_id))["status"] == "running" and r["node_runs"] and r,
        10, "the first node run to show", interval=0.05)
    assert [n["node_id"] for n in seen["node_runs"]] == ["first"]
    done = wait_status(b, run_id, {"succeeded"})
    assert [n["node_id"] for n in done["node_runs"]] == ["first", "fetch"]


def test_a_worker_killed_mid_run_leaves_it_interrupted_and_every_other_run_runs_once(
        site: Site, http_server: LoopbackHTTPServer) -> None:
    a, b = site.servers
    victim = submit(a, fetch(http_server.url("/slow?delay=20&tag=victim")))
    pid = wait_status(b, victim, {"running"})["worker_pid"]
    others = [submit((a, b)[i % 2], fetch(http_server.url(f"/slow?delay=0.2&tag=r{i}")))
              for i in range(8)]
    os.kill(pid, signal.SIGKILL)
    killed_at = time.monotonic()
    interrupted = wait_status(b, victim, {"interrupted"}, timeout=15)
    print(f"\nworker {pid} SIGKILLed: run interrupted after "
          f"{time.monotonic() - killed_at:.1f} s")
    assert "stopped before the run finished" in interrupted["error"]["message"]
    for run_id in others:
        assert wait_status(a, run_id, {"succeeded", "failed", "interrupted"})["status"] == \
            "succeeded"
        assert run_row(run_id)["node_runs"] == 1
    time.sleep(1.0)  # any redelivery would have run by now
    tags = [r.query.get("tag") for r in http_server.requests if r.path == "/slow"]
    assert sorted(t for t in tags if t != "victim") == sorted(f"r{i}" for i in range(8))
    assert tags.count("victim") == 1  # the redelivered message ran nothing
    assert run_row(victim)["status"] == "interrupted"


def test_a_callback_gets_the_runs_answer_signed_after_retries(
        site: Site, http_server: LoopbackHTTPServer) -> None:
    a, _ = site.servers
    callback = http_server.url("/flaky?key=callback&failures=2")  # 500, 500, then 200
    status, body, _ = a.request(
        "POST", "/api/v1/workflow/execute?callback_url=" + urllib.parse.quote(callback),
        fetch(http_server.url("/json")), headers=ASYNC)
    assert status == 202, body
    run_id = json.loads(body)["id"]
    assert http_server.wait_for_hits("/flaky", 3, timeout=20)
    posts = [r for r in http_server.requests if r.path == "/flaky"]
    assert [r.method for r in posts] == ["POST"] * 3
    delivered = posts[-1]
    answer = json.loads(delivered.body)
    assert answer["run_id"] == run_id
    assert answer["status"] == "succeeded"
    assert delivered.headers["x-thaiyyal-status"] == "200"
    timestamp, mac = (part.split("=", 1)[1]
                      for part in delivered.headers["x-thaiyyal-signature"].split(","))
    expected = hmac.new(CALLBACK_SECRET.encode(), f"{timestamp}.".encode() + delivered.body,
                        hashlib.sha256).hexdigest()
    assert hmac.compare_digest(mac, expected)
    assert get_run(a, run_id)["status"] == "succeeded"



def stored_workflow(server: liveserver.Server, name: str, mode: str) -> int:
    from tests.api.conftest import GREETING as definition

    status, body, _ = server.request("POST", "/api/v1/workflows", {
        "name": name, "definition": definition, "execution_mode": mode})
    assert status == 201, body
    return int(json.loads(body)["id"])


def runs_of(workflow_id: int) -> list[tuple[str, str, str | None]]:
    with psycopg.connect(postgres_url(), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT r.status, r.trigger, u.username FROM workflows_run r LEFT JOIN "
            "auth_user u ON u.id = r.requested_by_id WHERE r.workflow_id = %s",
            [workflow_id]).fetchall()
    return [(r[0], r[1], r[2]) for r in rows]


def test_a_webhook_and_a_schedule_each_produce_a_recorded_run(site: Site) -> None:
    a, b = site.servers
    hooked = stored_workflow(a, "hooked", "async")
    secret = site.manage("shell", "-c", (
        "from workflows import services; from workflows.models import Workflow; "
        f"print(services.rotate_webhook_secret(Workflow.objects.get(pk={hooked})))"
        )).strip().splitlines()[-1]
    status, body, _ = b.request("POST", f"/api/v1/hooks/{secret}", {"name": "hook"},
                                token="none")
    assert status == 202, body
    done = wait_status(a, json.loads(body)["id"], {"succeeded"})
    assert done["trigger"] == "webhook"

    timed = stored_workflow(a, "timed", "sync")
    site.manage("schedule_workflow", str(timed), "--every", "1", "--name", f"timed {timed}")
    try:
        scheduled = liveserver.wait_for(lambda: [r for r in runs_of(timed)
                                                 if r[0] == "succeeded"], 30,
                                        "a scheduled run", interval=0.5)
    finally:  # the database outlives the site: the schedule must not
        site.manage("shell", "-c", "from django_celery_beat.models import PeriodicTask; "
                    f"PeriodicTask.objects.filter(name='timed {timed}').delete()")
    status, trigger, owner = scheduled[0]
    assert trigger == "schedule"
    assert owner is not None
    assert owner.startswith("ops-")


def test_runs_on_both_workers_fetch_a_cached_url_once(
        site: Site, http_server: LoopbackHTTPServer) -> None:
    a, b = site.servers
    payload = {"nodes": [{"id": "fetch", "type": "http", "data": {
        "url": http_server.url("/slow?delay=1&tag=shared"), "cache": True}}], "edges": []}
    first, second = submit(a, payload), submit(b, payload)
    runs = [wait_status(a, run_id, {"succeeded", "failed"}) for run_id in (first, second)]
    assert [r["status"] for r in runs] == ["succeeded", "succeeded"]
    assert runs[0]["worker_pid"] != runs[1]["worker_pid"]  # one on each worker
    shared = [r for r in http_server.requests if r.query.get("tag") == "shared"]
    assert len(shared) == 1


def scrape(url: str, headers: dict[str, str] | None = None) -> dict[str, float]:
    """Prometheus text as {series: value} (comments dropped)."""
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=10) as response:
        text = response.read().decode()
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            series, _, value = line.rpartition(" ")
            samples[series] = float(value)
    return samples


def test_workers_export_queue_metrics_and_the_web_tier_the_queue_depth(site: Site) -> None:
    a, _ = site.servers
    submit(a, fetch("http://127.0.0.1:9/unreachable"))  # a run, whatever its outcome
    worker = scrape(f"http://127.0.0.1:{site.metrics_port}/metrics")  # type: ignore[attr-defined]
    assert worker["workflow_worker_processes"] == 1
    assert worker["workflow_queue_wait_duration_count"] >= 1
    runs = sum(v for k, v in worker.items()
               if k.startswith('workflow_worker_runs_total{worker="w1@'))
    assert runs >= 1
    # the same run metrics and run log as a synchronous run: every run w1 executed counted
    executions = sum(v for k, v in worker.items()
                     if k.startswith("workflow_executions_total{"))
    assert executions >= runs
    assert worker["workflow_execution_duration_count"] >= runs
    assert len(re.findall(r'"event":\s*"run_finished"', site.log("w1"))) >= runs
    queue = site.env["THAIYYAL_QUEUE"]
    assert f'workflow_queue_depth{{queue="{queue}"}}' in worker
    web = scrape(a.base + "/metrics", {"Authorization": f"Bearer {a.metrics_token}"})
    assert f'workflow_queue_depth{{queue="{queue}"}}' in web


def test_a_workers_pprof_covers_its_pool_processes(site: Site) -> None:
    base = f"http://127.0.0.1:{site.metrics_port}"  # type: ignore[attr-defined]
    w1 = site.processes[0]  # `thaiyyal worker` execs Celery: its children are the pool
    pool = liveserver.worker_pids(w1.pid)
    assert pool
    with urllib.request.urlopen(base + "/debug/pprof/threads", timeout=30) as response:
        threads = response.read().decode()
    for pid in (w1.pid, *pool):
        assert f"== pid {pid}:" in threads, threads[:1000]
    with urllib.request.urlopen(base + "/debug/pprof/profile?seconds=0.5",
                                timeout=30) as response:
        assert response.status == 200
        assert ";" in response.read().decode()  # collapsed stacks: frame;frame;... count


def in_flight(token: str) -> int:
    """The token's user's queued runs not yet ended, per the database."""
    with psycopg.connect(postgres_url(), autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM workflows_run r JOIN authtoken_token t ON "
            "t.user_id = r.requested_by_id WHERE t.key = %s AND r.queued_at IS NOT NULL "
            "AND r.status IN ('queued', 'running')", [token]).fetchone()
    assert row is not None
    return int(row[0])


def test_the_runs_in_flight_cap_holds_across_instances_queued_or_not(site: Site) -> None:
    """One user, both instances (4 web processes), both workers, the cap's default of 8:
    queued runs submitted anywhere fill it for async and sync executes everywhere."""
    a, b = site.servers
    slow = {"nodes": [{"id": "wait", "type": "delay", "data": {"duration": "3s"}}],
            "edges": []}
    quick = {"nodes": [{"id": "n", "type": "number", "data": {"value": 1}}], "edges": []}
    cap = 8
    runs = []
    try:
        for i in range(cap - in_flight(a.token)):
            server = (a, b)[i % 2]
            status, body, _ = server.request("POST", "/api/v1/workflow/execute", slow,
                                             token=a.token, headers=ASYNC)
            assert status == 202, (i, body)
            runs.append(json.loads(body)["id"])
        assert in_flight(a.token) == cap
        for server in (a, b):
            status, body, headers = server.request("POST", "/api/v1/workflow/execute", slow,
                                                   token=a.token, headers=ASYNC)
            assert status == 429, body
            assert headers["Retry-After"] == "1"
            # a run in the request, on a process that queued none of them (Redis)
            status, body, _ = server.request("POST", "/api/v1/workflow/execute", quick,
                                             token=a.token)
            assert status == 429, body
        # another user is not held back
        assert b.request("POST", "/api/v1/workflow/execute", quick)[0] == 200
    finally:
        for run_id in runs:
            a.request("POST", f"/api/v1/runs/{run_id}/cancel", token=a.token)
    # cancelled or ended, the slots are free again, on both instances
    liveserver.wait_for(lambda: in_flight(a.token) == 0, 30, "the runs to end")
    for server in (a, b):
        assert server.request("POST", "/api/v1/workflow/execute", quick,
                              token=a.token)[0] == 200


def test_throttles_count_across_every_process_of_every_instance(site: Site) -> None:
    """Runs last in this module: it spends the site's anonymous allowance."""
    allowed = int(ANON_RATE.split("/")[0])
    statuses = [server.request("POST", "/api/v1/hooks/" + "n" * 43, {}, token="none")[0]
                for _ in range(allowed) for server in site.servers][:allowed + 2]
    assert 429 in statuses
    assert statuses.index(429) <= allowed  # 2 instances x 2 workers would allow 4x as many


def test_the_dashboards_queue_panels_show_data_in_a_live_prometheus(
        site: Site, http_server: LoopbackHTTPServer, tmp_path: Path) -> None:
    """Prometheus scraping the web tier and a worker, as deploy/prometheus/prometheus.yml
    has it; then every queue panel of the Grafana dashboard has data."""
    a, b = site.servers
    config = yaml.safe_load((liveserver.ROOT / "deploy/prometheus/prometheus.yml").read_text())
    token = tmp_path / "token"
    token.write_text(a.metrics_token)
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    jobs["thaiyyal"]["authorization"]["credentials_file"] = str(token)
    jobs["thaiyyal"]["static_configs"] = [{"targets": [a.base.removeprefix("http://")]}]
    jobs["thaiyyal-workers"]["static_configs"] = [
        {"targets": [f"127.0.0.1:{site.metrics_port}"]}]  # type: ignore[attr-defined]
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    config["rule_files"] = [str(liveserver.ROOT / "deploy/prometheus/alerts.yml")]
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    port = liveserver.free_port()
    log = tmp_path / "prometheus.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [liveserver.require_tool("prometheus"), f"--config.file={path}",
             f"--storage.tsdb.path={tmp_path / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True)
    prometheus = liveserver.Prometheus(f"http://127.0.0.1:{port}", process, log)
    try:
        liveserver._wait_http(f"{prometheus.base}/-/ready", process, log, 60)
        liveserver.wait_for(lambda: prometheus.query('up{job="thaiyyal-workers"} == 1'), 30,
                            "the worker to be scraped")
        for _ in range(3):  # runs between scrapes: the counters rise
            runs = [submit((a, b)[i % 2], fetch(http_server.url("/json"))) for i in range(4)]
            for run_id in runs:
                wait_status(a, run_id, {"succeeded"})
            time.sleep(1.5)
        for query in dashboard_queries(queue_mode=True):
            result = liveserver.wait_for(lambda q=query: prometheus.query(q), 10,
                                         f"data for {query}")
            values = [float(r["value"][1]) for r in result]
            assert all(math.isfinite(v) and v >= 0 for v in values), (query, values)
    finally:
        liveserver.stop(process)
