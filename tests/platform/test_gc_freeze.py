"""A gunicorn worker freezes the loaded app out of the garbage collector
(workflows/gunicorn_hooks.py::freeze_loaded_app): full collections then walk only what
requests allocate. Checked in a fresh process loading the app as a worker does (freezing
the test process itself would change every other test's collections)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from tests.observability.liveserver import wait_for
from tests.platform.serving import (
    ROOT,
    database_url,
    serve,
    server_environment,
    worker_pids,
)

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
