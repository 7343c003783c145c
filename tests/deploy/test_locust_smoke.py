"""CI smoke of the load-test kit: a short headless locust run of deploy/loadtest/locustfile.py
against a live `thaiyyal serve` (gunicorn) on loopback, on the PostgreSQL database
DATABASE_URL names when set (CI), else on SQLite. The kit's thresholds (p95 < 500 ms,
failures < 1%) must hold, and a run that misses them must fail the process."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LOCUSTFILE = ROOT / "deploy" / "loadtest" / "locustfile.py"
BIN = Path(sys.executable).parent

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

# Migrate, then a user with an API token (a fresh name: the database may be shared).
SETUP_CODE = r"""
import secrets
import django
django.setup()
from django.contrib.auth import get_user_model
from django.core.management import call_command
from rest_framework.authtoken.models import Token
call_command("migrate", interactive=False, verbosity=0)
user = get_user_model().objects.create_user(f"loadtest-{secrets.token_hex(4)}", password=None)
print(Token.objects.create(user=user).key)
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(base: str, process: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(f"{base}/readyz", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
    pytest.fail(f"thaiyyal serve did not become ready:\n{log.read_text(errors='replace')[-3000:]}")


@pytest.fixture(scope="module")
def thaiyyal_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(base URL, API token) of a running `thaiyyal serve` with two workers."""
    tmp = tmp_path_factory.mktemp("locust-smoke")
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="thaiyyal.settings",
               SECRET_KEY=secrets.token_urlsafe(50), DEBUG="0", THAIYYAL_HTTPS="0",
               THAIYYAL_VAR_DIR=str(tmp / "var"), THAIYYAL_THROTTLE_USER="off",
               THAIYYAL_THROTTLE_EXECUTE="off")
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    setup = subprocess.run([sys.executable, "-c", SETUP_CODE], env=env, cwd=ROOT,
                           capture_output=True, text=True, check=False, timeout=120)
    assert setup.returncode == 0, setup.stderr
    token = setup.stdout.strip().splitlines()[-1]
    port = free_port()
    log = tmp / "server.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [str(BIN / "thaiyyal"), "serve", "--no-migrate", "--workers", "2",
             "--bind", f"127.0.0.1:{port}"],
            env=env, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, server, log)
        yield base, token
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()


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
    done, stats = locust(base, token, seconds=20, users=4, tmp=tmp_path)
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
