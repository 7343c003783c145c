"""Starting a real `thaiyyal serve` (gunicorn) on a free loopback port for a test."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests import loadtest_kit

ROOT = Path(__file__).resolve().parents[2]
THAIYYAL = Path(sys.executable).with_name("thaiyyal")


#: the load-test kit's: one process never hands out a port twice, to a test or a benchmark
free_port = loadtest_kit.bench_api().free_port


def database_url(settings_dict: dict[str, Any]) -> str:
    """DATABASE_URL for the database a test is using (the test database)."""
    if settings_dict["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{settings_dict['NAME']}"
    quote = urllib.parse.quote
    auth = quote(settings_dict["USER"] or "")
    if settings_dict["PASSWORD"]:
        auth += ":" + quote(settings_dict["PASSWORD"])
    host = settings_dict["HOST"] or "127.0.0.1"
    return f"postgres://{auth}@{host}:{settings_dict['PORT'] or 5432}/{settings_dict['NAME']}"


@dataclass
class Server:
    base: str
    process: subprocess.Popen
    log: Path
    #: where the master answers /healthz and /readyz (--probe-bind)
    probe_base: str = ""

    def request(self, method: str, path: str, token: str | None = None, body: Any = None,
                timeout: float = 30, headers: dict[str, str] | None = None
                ) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json", **(headers or {})}
        if token:
            headers["Authorization"] = f"Token {token}"
        request = urllib.request.Request(self.base + path, data=data, method=method,
                                         headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def start_run_to_kill(self, token: str, body: Any,
                          headers: dict[str, str] | None = None
                          ) -> tuple[Any, threading.Thread]:
        """POST `body` to ad-hoc execute on a thread (whose connection drops when the test
        kills the worker); return the run once its `running` row is committed, and the
        thread."""
        from workflows.models import Run  # the test's Django settings are loaded by then

        def post() -> None:
            try:
                self.request("POST", "/api/v1/workflow/execute", token, body, timeout=60,
                             headers=headers)
            except OSError:
                pass  # the worker dies under this request: the connection drops

        client = threading.Thread(target=post, daemon=True)
        client.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            run = Run.objects.filter(status="running").first()
            if run is not None:
                return run, client
            time.sleep(0.05)
        raise AssertionError("the running row was not committed")


def server_environment(db_url: str, var_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("THAIYYAL_") and k not in {"DJANGO_SETTINGS_MODULE", "DEBUG"}}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    return {**env, "DJANGO_SETTINGS_MODULE": "thaiyyal.settings", "DATABASE_URL": db_url,
            "SECRET_KEY": secrets.token_urlsafe(50), "THAIYYAL_HTTPS": "0",
            "THAIYYAL_VAR_DIR": str(var_dir), **extra}


@contextmanager
def serve(env: dict[str, str], log: Path, *args: str,
          ready_status: int = 200) -> Iterator[Server]:
    """A running server, once /readyz answers `ready_status`; stopped on exit. Its probe
    listener gets a free port of its own (the default, 8081, may be taken)."""
    port, probe_port = free_port(), free_port()
    if "--probe-bind" not in args:
        args = (*args, "--probe-bind", f"127.0.0.1:{probe_port}")
    with log.open("wb") as out:
        process = subprocess.Popen([str(THAIYYAL), "serve", "--bind", f"127.0.0.1:{port}", *args],
                                   env=env, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    server = Server(f"http://127.0.0.1:{port}", process, log, f"http://127.0.0.1:{probe_port}")
    try:
        wait_ready(server, ready_status)
        yield server
    finally:
        stop(process)


def wait_ready(server: Server, status: int = 200, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(f"thaiyyal serve exited:\n{server.output()[-3000:]}")
        try:
            if server.request("GET", "/readyz", timeout=5)[0] == status:
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    raise AssertionError(f"thaiyyal serve was not ready in {timeout}s:\n{server.output()[-3000:]}")


def stop(process: subprocess.Popen) -> None:
    """Stop a server (or worker) started in a session of its own: SIGTERM to its process
    group, SIGKILL after 30 s."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def worker_pids(master_pid: int) -> list[int]:
    """The master's live child processes (its workers); none once it has gone."""
    try:
        text = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text()
    except OSError:
        return []
    return [int(pid) for pid in text.split()]
