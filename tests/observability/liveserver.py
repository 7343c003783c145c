"""A real `thaiyyal serve` (gunicorn) and a real Prometheus on loopback, for live tests.

The server uses the PostgreSQL database DATABASE_URL names when set (CI), else SQLite in
the test's temporary directory. It gets a staff user with an API token, so one token
opens the API, /metrics (staff) and /debug/pprof/.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.platform.serving import free_port, stop, worker_pids

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

# Migrate, then a staff user with an API token (a fresh name: the database may be shared).
SETUP_CODE = r"""
import secrets
import django
django.setup()
from django.contrib.auth import get_user_model
from django.core.management import call_command
from rest_framework.authtoken.models import Token
call_command("migrate", interactive=False, verbosity=0)
user = get_user_model().objects.create_user(f"ops-{secrets.token_hex(4)}", password=None,
                                            is_staff=True)
print(Token.objects.create(user=user).key)
"""


def require_tool(name: str) -> str:
    """The tool's path. Missing in CI (or with THAIYYAL_REQUIRE_POSTGRES=1) fails the test;
    elsewhere it skips with the reason and the fix."""
    path = shutil.which(name)
    if path:
        return path
    reason = (f"{name} is not installed (Debian: apt-get install -y prometheus; "
              ".ci/run installs it)")
    if os.environ.get("CI") or os.environ.get("THAIYYAL_REQUIRE_POSTGRES") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


@dataclass
class Server:
    base: str
    token: str
    metrics_token: str
    process: subprocess.Popen
    log: Path
    env: dict[str, str] = field(default_factory=dict)
    #: where the master answers /healthz and /readyz (--probe-bind)
    probe_base: str = ""

    @property
    def master_pid(self) -> int:
        return self.process.pid  # `thaiyyal serve` execs gunicorn: same pid

    def request(self, method: str, path: str, body: Any = None, token: str | None = None,
                scheme: str = "Token", timeout: float = 30,
                headers: dict[str, str] | None = None) -> tuple[int, bytes, dict[str, str]]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Authorization", f"{scheme} {token or self.token}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        for key, value in (headers or {}).items():
            req.add_header(key, value)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as response:
                return response.status, response.read(), dict(response.headers)
        except urllib.error.HTTPError as err:
            return err.code, err.read(), dict(err.headers)

    def execute(self, payload: dict[str, Any]) -> int:
        status, _, _ = self.request("POST", "/api/v1/workflow/execute", payload)
        return status


def _wait_http(url: str, process: subprocess.Popen, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
    pytest.fail(f"{url} did not answer:\n{log.read_text(errors='replace')[-3000:]}")


def start_server(tmp: Path, workers: int = 2, **extra_env: str) -> Server:
    metrics_token = secrets.token_urlsafe(24)
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="thaiyyal.settings",
               SECRET_KEY=secrets.token_urlsafe(50), DEBUG="0", THAIYYAL_HTTPS="0",
               THAIYYAL_VAR_DIR=str(tmp / "var"), THAIYYAL_THROTTLE_USER="off",
               THAIYYAL_THROTTLE_EXECUTE="off", THAIYYAL_METRICS_TOKEN=metrics_token,
               THAIYYAL_HTTP_ALLOWED_NETWORKS="127.0.0.1/32",
               PROMETHEUS_MULTIPROC_DIR=str(tmp / "metrics"),
               THAIYYAL_PPROF_DIR=str(tmp / "pprof"), **extra_env)
    setup = subprocess.run([sys.executable, "-c", SETUP_CODE], env=env, cwd=ROOT,
                           capture_output=True, text=True, check=False, timeout=120)
    assert setup.returncode == 0, setup.stderr
    token = setup.stdout.strip().splitlines()[-1]
    port, probe_port = free_port(), free_port()
    log = tmp / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(BIN / "thaiyyal"), "serve", "--no-migrate", "--workers", str(workers),
             "--bind", f"127.0.0.1:{port}", "--probe-bind", f"127.0.0.1:{probe_port}"],
            env=env, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True)
    server = Server(f"http://127.0.0.1:{port}", token, metrics_token, process, log, env,
                    f"http://127.0.0.1:{probe_port}")
    try:
        _wait_http(f"{server.base}/readyz", process, log, 60)
        wait_for(lambda: len(worker_pids(server.master_pid)) == workers, 30,
                 "every worker to boot")
    except BaseException:
        stop(process)
        raise
    return server


def wait_for(check: Any, timeout: float, what: str, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:g}s waiting for {what}")


@dataclass
class Prometheus:
    base: str
    process: subprocess.Popen
    log: Path

    def api(self, path: str, **params: str) -> Any:
        url = f"{self.base}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        with urllib.request.urlopen(url, timeout=10) as response:
            body = json.loads(response.read())
        assert body["status"] == "success", body
        return body["data"]

    def query(self, promql: str) -> list[dict[str, Any]]:
        data = self.api("query", query=promql)
        assert data["resultType"] == "vector", (promql, data)
        return data["result"]


def start_prometheus(tmp: Path, server: Server, scrape_interval: str = "1s") -> Prometheus:
    """Prometheus with deploy/prometheus/prometheus.yml and alerts.yml, aimed at `server`."""
    binary = require_tool("prometheus")
    config = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    token_file = tmp / "metrics-token"
    token_file.write_text(server.metrics_token)
    token_file.chmod(0o600)
    config["global"].update(scrape_interval=scrape_interval, evaluation_interval=scrape_interval)
    config["rule_files"] = [str(ROOT / "deploy/prometheus" / f) for f in config["rule_files"]]
    # The web tier only: no queue workers run here.
    job = next(j for j in config["scrape_configs"] if j["job_name"] == "thaiyyal")
    config["scrape_configs"] = [job]
    job["authorization"]["credentials_file"] = str(token_file)
    job["static_configs"] = [{"targets": [server.base.removeprefix("http://")]}]
    path = tmp / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    port = free_port()
    log = tmp / "prometheus.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [binary, f"--config.file={path}", f"--storage.tsdb.path={tmp / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True)
    prometheus = Prometheus(f"http://127.0.0.1:{port}", process, log)
    try:
        _wait_http(f"{prometheus.base}/-/ready", process, log, 60)
    except BaseException:
        stop(process)
        raise
    return prometheus
