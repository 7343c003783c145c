"""Celery's hard time limit backs the engine's deadline, for real: a worker process wedged
past its run's limit + THAIYYAL_QUEUE_GRACE_SECONDS is killed and replaced, and its run is
marked `interrupted` (and its callback sent). Wedged here means stopped (SIGSTOP): it can
neither honour the engine's deadline nor a cancel, as a process stuck in native code could
not. Both an API-queued run (its message carries the limit) and a scheduled one (beat
sends no limit: the worker's own, from its --max-execution-time, applies) are covered."""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
from celery import Celery

from tests.faultproxy import postgres_url
from tests.httpserver import LoopbackHTTPServer
from tests.observability import liveserver
from tests.queue.conftest import Queue, broker_url
from tests.queue.site import Site, site_environment
from tests.queue.test_queue_site import fetch, get_run, run_row, wait_status

pytestmark = pytest.mark.slow

#: the worker's run limit (its --max-execution-time) and the queue grace on top of it
LIMIT, GRACE = 2, 1


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    postgres_url()  # the site's processes share the suite's PostgreSQL
    broker = broker_url()
    # A long reap grace: the run can only be marked because its process died, not
    # because it outlived its limit.
    env = site_environment(broker, THAIYYAL_QUEUE_GRACE_SECONDS=str(GRACE),
                           THAIYYAL_REAP_GRACE_SECONDS="600")
    site = Site(tmp_path_factory.mktemp("hard-limit"), env, Queue(broker, env["THAIYYAL_QUEUE"]))
    try:
        site.serve()
        site.start("worker", "--concurrency", "1", "--name", "limit@%h",
                   "--max-execution-time", f"{LIMIT}s", name="worker")
        yield site
    finally:
        site.stop()
        site.queue.delete()


def pool(site: Site) -> set[int]:
    """The worker's pool processes (the children of its main process)."""
    main = site.processes[0].pid
    children = Path(f"/proc/{main}/task/{main}/children").read_text().split()
    return {int(pid) for pid in children}


def wedge_and_wait(site: Site, run_id: str) -> tuple[int, float]:
    """Stop the process running `run_id`; wait for the run to be marked. Returns the pid
    and the seconds from the run's start to its mark."""
    a = site.servers[0]
    pid = int(wait_status(a, run_id, {"running"}, timeout=30)["worker_pid"])
    assert pid in pool(site)
    started = time.monotonic()
    os.kill(pid, signal.SIGSTOP)
    try:
        run = wait_status(a, run_id, {"interrupted", "failed", "succeeded", "cancelled"},
                          timeout=LIMIT + GRACE + 20)
    finally:
        try:
            os.kill(pid, signal.SIGCONT)  # should it have survived, let it be stopped
        except ProcessLookupError:
            pass
    assert run["status"] == "interrupted", run
    assert "stopped before the run finished" in run["error"]["message"]
    return pid, time.monotonic() - started


def test_a_wedged_queued_run_is_killed_at_its_hard_limit_replaced_and_marked(
        site: Site, http_server: LoopbackHTTPServer) -> None:
    a = site.servers[0]
    callback = http_server.url("/echo")
    status, body, _ = a.request(
        "POST", f"/api/v1/workflow/execute?max_execution_time={LIMIT}s&callback_url="
        + urllib.parse.quote(callback),
        fetch(http_server.url("/slow?delay=30&tag=wedged")), headers={"Prefer":
                                                                       "respond-async"})
    assert status == 202, body
    run_id = json.loads(body)["id"]

    pid, took = wedge_and_wait(site, run_id)

    print(f"\nwedged pool process {pid}: run marked interrupted {took:.1f} s after the stop "
          f"(limit {LIMIT} s + grace {GRACE} s)")
    assert took < LIMIT + GRACE + 10
    liveserver.wait_for(lambda: len(pool(site)) == 1 and pid not in pool(site), 15,
                        "a new pool process")
    assert "Hard time limit" in site.log("worker")
    # its callback says so
    assert http_server.wait_for_hits("/echo", 1, timeout=15)
    (post,) = [r for r in http_server.requests if r.path == "/echo"]
    assert json.loads(post.body)["details"][0]["code"] == "interrupted"
    liveserver.wait_for(lambda: get_run(a, run_id)["callback_state"] == "delivered", 10,
                        "the delivery to be recorded")
    # the worker goes on: the next run succeeds
    status, body, _ = a.request("POST", "/api/v1/workflow/execute",
                                fetch(http_server.url("/json")), headers={"Prefer":
                                                                          "respond-async"})
    assert wait_status(a, json.loads(body)["id"], {"succeeded"})["status"] == "succeeded"


def test_a_wedged_scheduled_run_has_the_workers_hard_limit_too(
        site: Site, http_server: LoopbackHTTPServer) -> None:
    a = site.servers[0]
    status, body, _ = a.request("POST", "/api/v1/workflows", {
        "name": "wedged schedule", "definition": fetch(http_server.url("/slow?delay=30"))})
    assert status == 201, body
    workflow = json.loads(body)["id"]
    # what beat sends for a schedule's turn: no time limit in the message
    app = Celery(broker=site.env["THAIYYAL_BROKER_URL"])
    message = app.send_task("thaiyyal.scheduled_run", kwargs={"workflow": workflow},
                            queue=site.env["THAIYYAL_QUEUE"])
    run_id = message.id
    liveserver.wait_for(lambda: _exists(run_id), 30, "the scheduled run's row")

    pid, took = wedge_and_wait(site, run_id)

    print(f"\nwedged scheduled run in {pid}: marked interrupted {took:.1f} s after the stop")
    assert took < LIMIT + GRACE + 10
    assert run_row(run_id)["status"] == "interrupted"
    # the worker's --max-execution-time is the scheduled run's limit
    assert get_run(a, run_id)["limits"]["max_execution_time"] == LIMIT
    liveserver.wait_for(lambda: len(pool(site)) == 1 and pid not in pool(site), 15,
                        "a new pool process")


def _exists(run_id: str) -> bool:
    try:
        run_row(run_id)
    except AssertionError:
        return False
    return True
