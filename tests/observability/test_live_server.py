"""Observability of a real two-worker `thaiyyal serve`: profiling every worker while the
server stays under load, the guide's curl commands as written, metrics that survive a
worker restart, and the JSON run log."""

from __future__ import annotations

import gzip
import json
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.observability.liveserver import (
    ROOT,
    Server,
    start_server,
    stop,
    wait_for,
    worker_pids,
)
from tests.observability.protodecode import read_profile
from tests.observability.workflows import ADD

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

#: range 1..10000 -> filter -> transform: engine CPU in every request
BUSY = {"nodes": [
    {"id": "r", "type": "range", "data": {"start": 1, "end": 10000}},
    {"id": "f", "type": "filter", "data": {"condition": "item % 3 == 0 && item % 7 != 1"}},
    {"id": "s", "type": "transform", "data": {"expression": "map(input.filtered, item * 2)"}}],
    "edges": [{"source": "r", "target": "f"}, {"source": "f", "target": "s"}]}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    live = start_server(tmp_path_factory.mktemp("live-server"), workers=2, THAIYYAL_PPROF="1")
    try:
        wait_for(lambda: len(list(Path(live.env["THAIYYAL_PPROF_DIR"]).glob("*.sock"))) == 2,
                 30, "both workers' profiling agents")
        yield live
    finally:
        stop(live.process)


class Load:
    """A client thread posting BUSY in a loop, recording when each answer came."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.done: list[tuple[float, int]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        deadline = time.monotonic() + 60
        while not self.stop.is_set() and time.monotonic() < deadline:
            status = self.server.execute(BUSY)
            self.done.append((time.monotonic(), status))

    def __enter__(self) -> Load:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(30)

    def between(self, start: float, end: float) -> list[int]:
        return [status for at, status in self.done if start <= at <= end]


def test_profiling_samples_every_worker_while_the_server_keeps_serving(server):
    with Load(server) as load:
        time.sleep(0.5)
        started = time.monotonic()
        # Wall-clock mode: CPU-weighted samples of ~1 ms requests depend on how the kernel
        # accounts CPU between samples, which made the content check below flaky under load.
        status, body, headers = server.request(
            "GET", "/debug/pprof/profile?seconds=2&mode=wall", timeout=30)
        ended = time.monotonic()
    assert status == 200
    assert 2.0 <= ended - started < 10
    served = load.between(started + 0.2, ended - 0.2)
    # The worker answering the profile waits; the other one serves the whole time.
    assert len(served) >= 10, f"only {len(served)} requests served while profiling"
    assert set(served) == {200}
    assert sorted(headers["X-Profile-Pids"].split(",")) == sorted(
        str(p) for p in worker_pids(server.master_pid))
    # The busy worker's runs are in the profile. Sampling is statistical: on a loaded
    # machine one 2 s profile has caught the serving worker only between requests, so
    # up to two more are taken before this counts as a failure.
    texts = [body.decode()]
    with Load(server):
        while len(texts) < 3 and "(engine/runner.py:" not in texts[-1]:
            again = server.request("GET", "/debug/pprof/profile?seconds=2&mode=wall",
                                   timeout=30)
            assert again[0] == 200
            texts.append(again[1].decode())
    assert "(engine/runner.py:" in texts[-1], f"{len(texts)} profiles without the runs"
    assert "(django/core/handlers/" in texts[-1]


def test_profile_formats_from_a_live_server(server):
    with Load(server):
        time.sleep(0.3)
        status, raw, _ = server.request("GET", "/debug/pprof/profile?seconds=1&format=pprof")
    assert status == 200
    decoded = read_profile(raw)
    pids = {s["labels"]["pid"] for s in decoded["samples"]}
    assert pids <= set(worker_pids(server.master_pid))
    files = {f[1] for s in decoded["samples"] for f in s["stack"]}
    assert any(f.startswith("django/core/handlers/") for f in files)  # requests served
    status, speed, _ = server.request(
        "GET", "/debug/pprof/profile?seconds=0.5&format=speedscope&mode=wall")
    assert status == 200
    assert json.loads(speed)["profiles"]


def test_thread_dump_covers_every_worker(server):
    status, body, _ = server.request("GET", "/debug/pprof/threads")
    assert status == 200
    dump = json.loads(body)
    assert {p["pid"] for p in dump["processes"]} == set(worker_pids(server.master_pid))
    for process in dump["processes"]:
        names = {t["name"] for t in process["threads"]}
        assert "MainThread" in names
        # A dump is complete: the profiling agent's own threads are listed too.
        assert "thaiyyal-pprof-agent" in names


def test_the_guides_pprof_curl_commands_work_as_written(server, tmp_path):
    """Each `curl ... /debug/pprof/...` line of docs/performance.md, run by bash with $TOKEN
    set; only the host and the 30 s profile length are changed for the test."""
    doc = (ROOT / "docs" / "performance.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", doc, re.S)
    commands = [line.strip() for block in blocks for line in block.splitlines()
                if line.strip().startswith("curl") and "/debug/pprof/" in line]
    assert len(commands) >= 12
    env = dict(os.environ, TOKEN=server.token)
    with Load(server):  # an idle server's CPU profile would rightly be empty
        for command in commands:
            command = command.replace("http://127.0.0.1:8080", server.base).replace(
                "seconds=30", "seconds=0.5")
            done = subprocess.run(["bash", "-c", command], cwd=tmp_path, env=env,
                                  capture_output=True, timeout=60, check=False)
            assert done.returncode == 0, (command, done.stderr)
    outputs = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    for name in ("cpu.folded", "cpu.pb.gz", "cpu.speedscope.json", "cpu.svg", "heap.txt",
                 "heap-diff.txt", "heap.json", "heap.pb.gz", "threads.txt", "threads.json",
                 "threads.pb.gz"):
        assert outputs.get(name), f"{name} is missing or empty"
    for name in ("cpu.pb.gz", "heap.pb.gz", "threads.pb.gz"):
        read_profile(outputs[name])
    assert gzip.decompress(outputs["cpu.pb.gz"])
    assert outputs["cpu.svg"].startswith(b"<svg")
    json.loads(outputs["cpu.speedscope.json"])


def _metric(server: Server, name: str) -> float:
    status, body, _ = server.request("GET", "/metrics", token=server.metrics_token,
                                     scheme="Bearer")
    assert status == 200
    values = [float(line.rsplit(" ", 1)[1]) for line in body.decode().splitlines()
              if line.startswith(name + " ") or line.startswith(name + "{")]
    return sum(values)


def test_metrics_survive_a_worker_restart(server):
    for _ in range(4):
        assert server.execute(ADD) == 200
    runs = _metric(server, 'workflow_executions_total{status="succeeded"}')
    cpu = _metric(server, "process_cpu_seconds_total")
    assert _metric(server, "thaiyyal_worker_slots") == 2
    old = worker_pids(server.master_pid)
    os.kill(old[0], signal.SIGTERM)  # gunicorn replaces it (as with max_requests)
    wait_for(lambda: len(set(worker_pids(server.master_pid)) - set(old)) == 1
             and len(worker_pids(server.master_pid)) == 2, 30, "a replacement worker")
    wait_for(lambda: _metric(server, "thaiyyal_worker_slots") == 2, 30,
             "the dead worker's slots to be dropped and the new one's added")
    # History stays: the dead worker's runs are still counted; CPU never goes back.
    assert _metric(server, 'workflow_executions_total{status="succeeded"}') == runs
    assert _metric(server, "process_cpu_seconds_total") >= cpu
    # Its counter and histogram files were folded into the archives (scrapes stay fast).
    metrics_dir = Path(server.env["PROMETHEUS_MULTIPROC_DIR"])
    assert not (metrics_dir / f"counter_{old[0]}.db").exists()
    assert not (metrics_dir / f"histogram_{old[0]}.db").exists()
    assert (metrics_dir / "counter_archive.db").exists()
    sockets = {p.name for p in Path(server.env["THAIYYAL_PPROF_DIR"]).glob("*.sock")}
    wait_for(lambda: {p.name for p in Path(server.env["THAIYYAL_PPROF_DIR"]).glob("*.sock")}
             == {f"{pid}.sock" for pid in worker_pids(server.master_pid)}, 30,
             f"the agent sockets to follow the workers (had {sockets})")


def test_each_run_logs_one_json_line(server):
    status, body, _ = server.request("POST", "/api/v1/workflow/execute", ADD)
    assert status == 200
    run_id = json.loads(body)["run_id"]

    def logged() -> dict | None:
        for line in server.log.read_text(errors="replace").splitlines():
            if line.startswith("{") and run_id in line:
                return json.loads(line)
        return None

    record = wait_for(logged, 10, "the run's log line")
    assert record["logger"] == "thaiyyal.runs"
    assert record["status"] == "succeeded"
    assert record["duration_ms"] >= 0
    assert record["pid"] in worker_pids(server.master_pid)
