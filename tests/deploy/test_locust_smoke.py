"""CI smoke of the load-test kit: a short headless locust run of deploy/loadtest/locustfile.py
against a live `thaiyyal serve` (gunicorn) on loopback, on the PostgreSQL database
DATABASE_URL names when set (CI), else on SQLite. The kit's thresholds (p95 < 500 ms,
failures < 1%) must hold, and a run that misses them must fail the process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.observability.liveserver import start_server, stop

ROOT = Path(__file__).resolve().parents[2]
LOCUSTFILE = ROOT / "deploy" / "loadtest" / "locustfile.py"
BIN = Path(sys.executable).parent

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def thaiyyal_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(base URL, API token) of a running `thaiyyal serve` with two workers."""
    server = start_server(tmp_path_factory.mktemp("locust-smoke"), workers=2)
    try:
        yield server.base, server.token
    finally:
        stop(server.process)


def locust(base: str, token: str, seconds: int, users: int, tmp: Path,
           **env: str) -> tuple[subprocess.CompletedProcess, dict]:
    stats = tmp / "stats"
    command = [str(BIN / "locust"), "-f", str(LOCUSTFILE), "--headless", "--host", base,
               "-u", str(users), "-r", str(users), "-t", f"{seconds}s", "--stop-timeout", "5",
               "--only-summary", "--csv", str(stats), "--json"]
    done = subprocess.run(command, env=dict(os.environ, THAIYYAL_TOKEN=token, **env),
                          cwd=ROOT, capture_output=True, text=True, check=False,
                          timeout=seconds + 60)
    (total,) = [row for row in json.loads(done.stdout or "[]") if row["name"] == "execute"] \
        or [{}]
    return done, total


def test_locust_smoke_meets_the_kit_thresholds_against_a_thaiyyal_server(thaiyyal_server, tmp_path):
    base, token = thaiyyal_server
    done, stats = locust(base, token, seconds=8, users=4, tmp=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "thresholds met" in done.stderr
    assert stats["num_requests"] > 100
    assert stats["num_failures"] == 0


def test_locust_exits_non_zero_when_a_threshold_is_missed(thaiyyal_server, tmp_path):
    base, _ = thaiyyal_server
    done, stats = locust(base, "not-a-valid-token", seconds=3, users=2, tmp=tmp_path)
    assert done.returncode == 1
    assert "thresholds missed: failure rate 100.00%" in done.stderr
    assert stats["num_failures"] == stats["num_requests"] > 0
