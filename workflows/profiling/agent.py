"""Profile the whole server, not only the worker that took the request.

With gunicorn's sync workers the worker answering /debug/pprof/profile is busy waiting
for the profile, so sampling only itself would show nothing. Each worker therefore runs
a small agent thread (started by workflows.gunicorn_hooks.post_worker_init when
THAIYYAL_PPROF=1) listening on a Unix socket `$THAIYYAL_PPROF_DIR/<pid>.sock`. The
answering worker sends the job to every agent, its own included; each samples its own
process on a thread of its own while the worker goes on serving requests, and sends the
samples back as JSON. Without agents (runserver, tests) the job runs in-process.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from workflows.profiling.sampler import PROFILER_THREAD_PREFIX, sample
from workflows.profiling.threads import dump_threads

PPROF_DIR_ENV = "THAIYYAL_PPROF_DIR"
MAX_SECONDS_ENV = "THAIYYAL_PPROF_MAX_SECONDS"
DEFAULT_MAX_SECONDS = 60.0
_busy = threading.Lock()  # one profile at a time per process: sampling costs CPU
_agent: dict[str, Any] = {"path": None, "worker_timeout": None}


class ProfilerBusy(Exception):
    """Another profile is running in this process."""


def max_seconds() -> float:
    """How long one profile may run: the operator's cap, and below the worker timeout so
    a sync worker waiting for the profile is not killed as stuck."""
    cap = float(os.environ.get(MAX_SECONDS_ENV, DEFAULT_MAX_SECONDS))
    timeout = _agent["worker_timeout"]
    if timeout:
        cap = min(cap, max(1.0, float(timeout) - 5.0))
    return cap


def agent_path() -> str | None:
    return _agent["path"]


def start_agent(worker_timeout: float | None = None) -> str | None:
    """Listen for profiling jobs in this process. Returns the socket path, or None when no
    THAIYYAL_PPROF_DIR is set."""
    directory = os.environ.get(PPROF_DIR_ENV)
    if not directory or (_agent["path"] and _agent.get("pid") == os.getpid()):
        return _agent["path"]
    # (a forked child of a process with an agent inherits its state, not its thread)
    path = os.path.join(directory, f"{os.getpid()}.sock")
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    os.chmod(path, 0o600)
    listener.listen(16)
    _agent.update(path=path, worker_timeout=worker_timeout, pid=os.getpid())
    threading.Thread(target=_serve, args=(listener,), name=f"{PROFILER_THREAD_PREFIX}-agent",
                     daemon=True).start()
    return path


def _serve(listener: socket.socket) -> None:
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=_handle, args=(conn,), name=f"{PROFILER_THREAD_PREFIX}-job",
                         daemon=True).start()


def _handle(conn: socket.socket) -> None:
    with conn:
        try:
            data = b""
            while not data.endswith(b"\n"):
                chunk = conn.recv(4096)
                if not chunk:
                    return
                data += chunk
            reply = run_job(json.loads(data))
        except ProfilerBusy:
            reply = {"pid": os.getpid(), "error": "busy"}
        except Exception as exc:  # noqa: BLE001 - the asker gets the reason, the worker lives
            reply = {"pid": os.getpid(), "error": f"{type(exc).__name__}: {exc}"}
        conn.sendall(json.dumps(reply).encode())


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    """Run a job in this process: {"op": "profile", "seconds", "hz", "mode"} or
    {"op": "threads"}. `exclude` idents apply only in the asking process (`pid`)."""
    exclude = frozenset(job.get("exclude", ())) if job.get("pid") == os.getpid() else frozenset()
    if job["op"] == "threads":
        return dump_threads()  # a dump shows every thread, the asking one too
    if job["op"] != "profile":
        raise ValueError(f"unknown op {job['op']!r}")
    if not _busy.acquire(blocking=False):
        raise ProfilerBusy
    try:
        seconds = min(float(job["seconds"]), max_seconds())
        return sample(seconds, float(job["hz"]), str(job["mode"]), exclude).to_json()
    finally:
        _busy.release()


def _ask(path: str, job: dict[str, Any], timeout: float) -> dict[str, Any] | None:
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.settimeout(timeout)
    try:
        conn.connect(path)
    except (ConnectionRefusedError, FileNotFoundError):
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)  # a worker that died without child_exit cleaning up
        return None
    with conn:
        conn.sendall(json.dumps(job).encode() + b"\n")
        chunks = []
        while chunk := conn.recv(1 << 16):
            chunks.append(chunk)
    return json.loads(b"".join(chunks))


def gather(job: dict[str, Any]) -> list[dict[str, Any]]:
    """Run `job` in every worker of the server (or in this process alone) and return the
    replies. The calling thread is left out of its own process's results."""
    job = {**job, "pid": os.getpid(), "exclude": [threading.get_ident()]}
    directory = os.environ.get(PPROF_DIR_ENV)
    paths = sorted(glob.glob(os.path.join(directory, "*.sock"))) if directory else []
    if not _agent["path"] or not paths:
        return [_run_beside(job)]
    wait = float(job.get("seconds", 0)) + 15.0
    with ThreadPoolExecutor(len(paths), thread_name_prefix=PROFILER_THREAD_PREFIX) as pool:
        replies = list(pool.map(lambda p: _ask(p, job, wait), paths))
    return [r for r in replies if r is not None]


def _run_beside(job: dict[str, Any]) -> dict[str, Any]:
    # On a separate thread, so that the sampler can see (and skip) the asking thread.
    with ThreadPoolExecutor(1, thread_name_prefix=PROFILER_THREAD_PREFIX) as pool:
        try:
            return pool.submit(run_job, job).result()
        except ProfilerBusy:
            return {"pid": os.getpid(), "error": "busy"}
