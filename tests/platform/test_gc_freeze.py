"""A gunicorn worker freezes the loaded app out of the garbage collector
(workflows/gunicorn_hooks.py::freeze_loaded_app): full collections then walk only what
requests allocate. Checked in a fresh process loading the app as a worker does (freezing
the test process itself would change every other test's collections). gunicorn's master
and a queue worker's main process freeze it before they fork, so that the processes they
fork share its pages instead of copying them."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from tests.observability.liveserver import wait_for
from tests.platform.serving import (
    ROOT,
    THAIYYAL,
    database_url,
    serve,
    server_environment,
    stop,
    worker_pids,
)
from tests.queue.conftest import Queue, broker_url

WORKER = """
import gc, json, time
from thaiyyal.wsgi import application
from workflows.gunicorn_hooks import freeze_loaded_app

def full_collection_ms():
    started = time.perf_counter()
    gc.collect()
    return (time.perf_counter() - started) * 1000

before = min(full_collection_ms() for _ in range(3))
frozen = freeze_loaded_app()
after = min(full_collection_ms() for _ in range(3))
print(json.dumps({"frozen": frozen, "tracked": len(gc.get_objects()),
                  "before_ms": before, "after_ms": after}))
"""


def test_freezing_the_loaded_app_leaves_full_collections_almost_nothing_to_walk():
    env = {k: v for k, v in os.environ.items() if not k.startswith("THAIYYAL_")}
    env.update(DJANGO_SETTINGS_MODULE="thaiyyal.settings", SECRET_KEY="x" * 50,
               THAIYYAL_HTTPS="0")
    done = subprocess.run([sys.executable, "-c", WORKER], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=True)
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"\n{figures}")
    # The app, its URLconf, views and the engine: about 119,000 objects here.
    assert figures["frozen"] > 50_000, figures
    assert figures["tracked"] < 1_000, figures
    assert figures["after_ms"] < figures["before_ms"], figures


@pytest.mark.django_db(transaction=True)
def test_workers_share_the_preloaded_and_frozen_app_with_the_master(tmp_path):
    """The master loads the app and freezes it before forking, so each worker's memory is
    mostly pages it shares: its proportional share (PSS) is well under its RSS. (Each
    worker importing the app itself, or collecting over the inherited objects, made them
    its own: PSS ~57 of 86 MB; shared, ~22 of 83 MB.)"""
    env = server_environment(database_url(connection.settings_dict), tmp_path / "var")
    with serve(env, tmp_path / "server.log", "--workers", "3") as server:
        workers = wait_for(lambda: len(found := worker_pids(server.process.pid)) == 3
                           and found, 20, "three workers")
        for _ in range(20):
            server.request("GET", "/healthz")
        memory = {pid: (_kib(pid, "Rss"), _kib(pid, "Pss")) for pid in workers}
    print(f"\nworkers' RSS and PSS, KiB: {memory}")
    for rss, pss in memory.values():
        assert pss < 0.5 * rss, memory


def _kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


@pytest.mark.django_db(transaction=True)
def test_a_queue_workers_pool_processes_share_the_app_with_its_main_process(tmp_path):
    """`thaiyyal worker` freezes the loaded app before each pool process is forked
    (thaiyyal/celeryconf.py): the pool processes' own (private) pages stay a small part
    of their memory. (Not frozen: 16-25 and 51 MB private of 93 MB each, 36% of the pool's
    RSS; frozen: ~12 MB each, 13%.)"""
    broker = broker_url()
    queue = f"thaiyyal-freeze-{secrets.token_hex(4)}"
    env = server_environment(database_url(connection.settings_dict), tmp_path / "var",
                             THAIYYAL_BROKER_URL=broker, THAIYYAL_QUEUE=queue)
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        worker = subprocess.Popen([str(THAIYYAL), "worker", "--concurrency", "2"], env=env,
                                  cwd=ROOT, stdin=subprocess.DEVNULL, stdout=out,
                                  stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for(lambda: worker.poll() is not None or "ready." in log.read_text(
            errors="replace"), 60, "the worker to start")
        assert worker.poll() is None, log.read_text(errors="replace")[-3000:]
        pool = wait_for(lambda: len(found := worker_pids(worker.pid)) == 2 and found, 20,
                        "two pool processes")
        memory = {pid: (_kib(pid, "Rss"), _kib(pid, "Private_Clean")
                        + _kib(pid, "Private_Dirty")) for pid in pool}
    finally:
        stop(worker)
        Queue(broker, queue).delete()
    print(f"\npool processes' RSS and private memory, KiB: {memory}")
    # The first process forked used to copy the most: checked over the pool.
    assert sum(private for _, private in memory.values()) < 0.2 * sum(
        rss for rss, _ in memory.values()), memory
