"""A queue worker's operations listener (THAIYYAL_WORKER_METRICS_BIND, host:port), run by
its main process on a daemon thread, so it answers whatever the pool processes do:

- `/healthz`: the worker's main process lives (the Kubernetes liveness probe);
- `/readyz`: it is also connected to the broker, so it can take runs (503 while the
  connection is lost and Celery reconnects; the readiness probe);
- `/metrics`: its processes' metrics and the queue depth (workflows/queue_metrics.py);
- with THAIYYAL_PPROF=1, `/debug/pprof/profile?seconds=N` (collapsed stacks of every
  process of the worker, pool processes included: each runs the profiling agent, as
  gunicorn's workers do) and `/debug/pprof/threads` (every thread's stack, as text).

No authentication: keep the port off any network but the scraper's.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import prometheus_client

#: the longest profile the listener takes (seconds)
MAX_PROFILE_SECONDS = 60.0


def pprof_enabled() -> bool:
    return os.environ.get("THAIYYAL_PPROF") == "1"


def _profile(query: dict[str, list[str]]) -> tuple[int, str, bytes]:
    from workflows.profiling import render
    from workflows.profiling.agent import gather
    from workflows.profiling.sampler import ProcessProfile

    try:
        seconds = float(query.get("seconds", ["5"])[0])
    except ValueError:
        return 400, "text/plain", b"seconds must be a number\n"
    if not 0.05 <= seconds <= MAX_PROFILE_SECONDS:
        return 400, "text/plain", f"seconds must be 0.05 to {MAX_PROFILE_SECONDS:g}\n".encode()
    replies = gather({"op": "profile", "seconds": seconds, "hz": 100.0, "mode": "cpu"})
    profiles = [ProcessProfile.from_json(r) for r in replies if "error" not in r]
    if not profiles:
        return 503, "text/plain", f"no process answered: {replies}\n".encode()
    return 200, "text/plain", render.collapsed(profiles).encode()


def _threads() -> tuple[int, str, bytes]:
    from workflows.profiling.agent import gather
    from workflows.profiling.threads import threads_text

    dumps = [r for r in gather({"op": "threads"}) if "error" not in r]
    return 200, "text/plain", threads_text(dumps).encode()


def broker_connected(consumer: Any) -> bool:
    """Whether a Celery consumer holds a live broker connection now (False while it is
    lost and Celery reconnects: the consumer then has none, or a closed one)."""
    connection = getattr(consumer, "connection", None)
    try:
        return bool(connection is not None and connection.connected)
    except Exception:  # noqa: BLE001 - a connection half torn down: not connected
        return False


def serve(bind: str, registry: Callable[[], Any],
          ready: Callable[[], bool] = lambda: True) -> ThreadingHTTPServer:
    """Listen on `bind` (host:port) on a daemon thread; `registry()` is what /metrics
    exports, `ready()` what /readyz says."""
    host, _, port = bind.rpartition(":")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            url = urlsplit(self.path)
            if url.path == "/healthz":
                answer = (200, "text/plain", b"ok\n")
            elif url.path == "/readyz":
                answer = ((200, "text/plain", b"ok\n") if ready() else
                          (503, "text/plain", b"broker connection lost\n"))
            elif url.path == "/metrics":
                answer = (200, prometheus_client.CONTENT_TYPE_LATEST,
                          prometheus_client.generate_latest(registry()))
            elif url.path == "/debug/pprof/profile" and pprof_enabled():
                answer = _profile(parse_qs(url.query))
            elif url.path == "/debug/pprof/threads" and pprof_enabled():
                answer = _threads()
            else:
                answer = (404, "text/plain", b"not found\n")
            code, content_type, body = answer
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer((host or "127.0.0.1", int(port)), Handler)
    threading.Thread(target=server.serve_forever, name="thaiyyal-worker-ops",
                     daemon=True).start()
    return server
