"""Whole-server CPU accounting and the gunicorn hooks, without gunicorn."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from workflows import gunicorn_hooks
from workflows.serverproc import HighWaterMark, ServerProcessCollector, read_stat, server_usage

BURN = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass\n"


def test_server_usage_adds_live_children_and_reaped_ones_to_the_root():
    child = subprocess.Popen([sys.executable, "-c", BURN + "time.sleep(30)"])
    try:
        time.sleep(0.1)
        deadline = time.monotonic() + 10
        while (read_stat(child.pid).cpu_seconds < 0.25) and time.monotonic() < deadline:
            time.sleep(0.05)
        with_child = server_usage(os.getpid())
        mine = read_stat(os.getpid()).cpu_seconds
        assert with_child.cpu_seconds >= mine + 0.25
        assert with_child.processes >= 2
    finally:
        child.kill()
        child.wait()  # reaped: its CPU moves into our cutime/cstime
    after = server_usage(os.getpid())
    assert after.cpu_seconds >= with_child.cpu_seconds - 0.02


def test_the_high_water_mark_never_goes_down(tmp_path):
    mark = HighWaterMark(str(tmp_path / "cpu.hwm"))
    assert mark.raise_to(5.0) == 5.0
    assert mark.raise_to(4.9) == 5.0  # a reading lower than one already reported
    assert HighWaterMark(str(tmp_path / "cpu.hwm")).raise_to(6.5) == 6.5


def test_collector_reports_the_whole_server_series(tmp_path):
    names = {m.name for m in ServerProcessCollector(str(tmp_path)).collect()}
    assert names == {"process_cpu_seconds", "process_resident_memory_bytes",
                     "process_start_time_seconds", "thaiyyal_server_processes",
                     "thaiyyal_cpu_cores"}


def test_on_starting_wipes_old_metric_files_and_keeps_the_rest(tmp_path, monkeypatch):
    metrics, pprof = tmp_path / "metrics", tmp_path / "pprof"
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(metrics))
    monkeypatch.setenv("THAIYYAL_PPROF_DIR", str(pprof))
    monkeypatch.setenv("THAIYYAL_SERVER_PID", "")  # restored after the test
    metrics.mkdir()
    pprof.mkdir()
    for name in ("counter_123.db", "gauge_livesum_123.db", "server_cpu.hwm"):
        (metrics / name).write_text("old")
    (metrics / "README").write_text("an operator's file")
    (pprof / "123.sock").write_text("")
    gunicorn_hooks.on_starting(server=None)
    assert sorted(p.name for p in metrics.iterdir()) == ["README"]
    assert list(pprof.iterdir()) == []
    assert os.environ["THAIYYAL_SERVER_PID"] == str(os.getpid())


def test_prepare_environment_makes_directories_when_none_are_set(monkeypatch):
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    monkeypatch.delenv("THAIYYAL_PPROF_DIR", raising=False)
    monkeypatch.setenv("THAIYYAL_SERVER_PID", "")
    gunicorn_hooks.prepare_environment()
    for var in ("PROMETHEUS_MULTIPROC_DIR", "THAIYYAL_PPROF_DIR"):
        path = Path(os.environ[var])
        assert path.is_dir()
        path.rmdir()
