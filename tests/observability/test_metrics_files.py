"""Folding dead workers' metric files keeps every total and shrinks the file count."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from workflows.metrics_files import fold_dead_worker

# A "worker": records some runs through the real metrics module, then exits.
WORKER = """
from workflows.metrics import RunObserver
o = RunObserver()
for i in range({runs}):
    o.run_started("x", None, 1)
    o.node_finished("x", "n", "number", "succeeded", 0.3, None)
    o.run_finished("x", "failed" if i % 3 == 0 else "succeeded", 40.0 * (i + 1), "node_error")
print(__import__("os").getpid())
"""


def run_worker(directory: Path, runs: int) -> int:
    env = dict(os.environ, PROMETHEUS_MULTIPROC_DIR=str(directory))
    done = subprocess.run([sys.executable, "-c", WORKER.format(runs=runs)], env=env,
                          capture_output=True, text=True, check=True, timeout=60)
    return int(done.stdout.split()[-1])


def exposition(directory: Path) -> list[str]:
    registry = CollectorRegistry()
    MultiProcessCollector(registry, str(directory))
    lines = generate_latest(registry).decode().splitlines()
    return sorted(line for line in lines if not line.startswith("#")
                  and "in_progress" not in line)


def test_folding_dead_workers_keeps_every_counter_and_histogram(tmp_path):
    pids = [run_worker(tmp_path, runs) for runs in (5, 7, 2)]
    before = exposition(tmp_path)
    assert "workflow_executions_total{status=\"succeeded\"} 8.0" in before
    for pid in pids:
        folded = fold_dead_worker(str(tmp_path), pid)
        assert {Path(f).name for f in folded} == {f"counter_{pid}.db", f"histogram_{pid}.db"}
    assert exposition(tmp_path) == before
    names = sorted(p.name for p in tmp_path.glob("*.db") if "gauge" not in p.name)
    assert names == ["counter_archive.db", "histogram_archive.db"]
    # A later worker's files sit beside the archives and add up with them.
    run_worker(tmp_path, 1)
    after = exposition(tmp_path)
    assert "workflow_executions_total{status=\"failed\"} 7.0" in after
    assert "workflow_execution_duration_count 15.0" in after


def test_folding_a_worker_that_left_no_files_is_harmless(tmp_path):
    assert fold_dead_worker(str(tmp_path), 999_999) == []
