"""Gunicorn server hooks for multiprocess metrics and whole-server profiling.

deploy/gunicorn.conf.py calls these. This module imports nothing from Django or
prometheus_client at import time: it runs in the master, before the app is loaded.

- `prepare_environment()` (at config load): chooses PROMETHEUS_MULTIPROC_DIR before any
  metric exists, and records the master's pid for the whole-server CPU collector.
- `on_starting`: wipes the metrics directory, so counters start at zero with the server
  and files of a previous server's workers are not summed in; then, in a server
  `thaiyyal serve` started, migrates and reaps (thaiyyal/cli.py::prepare_for_serving).
- `child_exit`: marks a dead worker, so its live gauges (requests in progress, worker
  slots) stop counting. Its counters and histograms stay (they are history), folded into
  one archive file per type so that recycled workers do not slow every scrape.
- `freeze_before_forking` (`when_ready`): with the app preloaded, the master freezes it
  before forking, so the workers' collections leave the pages they share alone.
- `post_worker_init`: the worker freezes the loaded app out of the garbage collector
  (`gc.freeze()`: full collections no longer walk it), adds its request slots, starts
  its reaper (runs whose worker died are marked `interrupted` by the server itself,
  every few seconds; see workflows/maintenance.py) and, with THAIYYAL_PPROF=1, starts
  the profiling agent that lets any worker sample every worker.
- `start_probe_listener` (`when_ready`), `close_probe_listener_in_worker` (`post_fork`),
  `stop_probe_listener` (`on_exit`): `/healthz` and `/readyz` on THAIYYAL_PROBE_BIND,
  answered by the master (thaiyyal/probe_listener.py).
"""

from __future__ import annotations

import glob
import importlib
import os
import queue
import signal
import sys
import tempfile
from functools import partial
from typing import Any

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
PPROF_DIR_ENV = "THAIYYAL_PPROF_DIR"
SERVER_PID_ENV = "THAIYYAL_SERVER_PID"
PROBE_BIND_ENV = "THAIYYAL_PROBE_BIND"

_probe_listener: Any = None


def prepare_environment() -> None:
    """Set the metrics and profiling directories (kept if the operator set them)."""
    if not os.environ.get(MULTIPROC_ENV):
        os.environ[MULTIPROC_ENV] = tempfile.mkdtemp(prefix="thaiyyal-metrics-")
    os.makedirs(os.environ[MULTIPROC_ENV], exist_ok=True)
    if not os.environ.get(PPROF_DIR_ENV):
        os.environ[PPROF_DIR_ENV] = tempfile.mkdtemp(prefix="thaiyyal-pprof-")
    os.makedirs(os.environ[PPROF_DIR_ENV], mode=0o700, exist_ok=True)
    os.environ[SERVER_PID_ENV] = str(os.getpid())


def wipe_metrics_directory() -> None:
    """Delete the previous run's metric files (and nothing else in the directory)."""
    path = os.environ.get(MULTIPROC_ENV)
    if not path:
        return
    for pattern in ("*.db", "*.hwm", "*.db.new"):
        for name in glob.glob(os.path.join(path, pattern)):
            os.remove(name)
    for name in glob.glob(os.path.join(os.environ.get(PPROF_DIR_ENV, path), "*.sock")):
        os.remove(name)


def on_starting(server: Any) -> None:
    prepare_environment()
    wipe_metrics_directory()
    # Started by `thaiyyal serve`: migrate and reap now, before any worker is forked and
    # before the port is bound (the app is loaded already: preload_app).
    from thaiyyal.cli import prepare_for_serving

    prepare_for_serving()


def child_exit(server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    from workflows.metrics_files import fold_dead_worker

    multiprocess.mark_process_dead(worker.pid)
    if os.environ.get(MULTIPROC_ENV):
        fold_dead_worker(os.environ[MULTIPROC_ENV], worker.pid)
    sock = os.path.join(os.environ.get(PPROF_DIR_ENV, ""), f"{worker.pid}.sock")
    if os.path.exists(sock):
        os.remove(sock)


def freeze_loaded_app() -> int:
    """Move every object of the loaded app (Django, the URLconf and its views, the
    engine) out of the garbage collector's sight; return how many. They live as long as
    the worker, yet every full collection walked them all: measured in a worker-like
    process, about 119,000 objects made each full collection 120-160 ms longer, and runs
    parsing JSON saw full-collection pauses of 226-314 ms, 34-71 ms once frozen."""
    import gc

    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 - imports the views now, to freeze them too
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def freeze_before_forking(server: Any) -> None:
    """In the master, with the app preloaded: freeze it before the workers are forked, so
    that their collections never walk (and so write to) the pages they share with it."""
    if getattr(server.cfg, "preload_app", False):
        freeze_loaded_app()


#: what the master sends its workers to stop them
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)


def keep_arbiter(server: Any, worker: Any) -> None:
    """`post_fork`, in the new worker: keep the master's state as this process inherited
    it, for stopped_before_listening."""
    worker.thaiyyal_arbiter = server


def stopped_before_listening(worker: Any) -> bool:
    """Whether the master told this worker to stop before it had its own signal handlers.

    Until then the master's handler, inherited through the fork, takes a signal: it only
    queues it for a master loop this process never runs. With the app preloaded a worker
    is serving within milliseconds, so a server stopped just after it is ready can send
    its stop while the last workers are still being forked; such a worker kept serving,
    and the master waited its whole graceful timeout (the execution limit + 5 s) for it.
    A stop already pending in the master at the fork is in the same queue. Then the worker
    ends now (`alive` off: its loop exits before the first request)."""
    inherited = getattr(getattr(worker, "thaiyyal_arbiter", None), "SIG_QUEUE", None)
    told = False
    while inherited is not None:
        try:
            told = inherited.get_nowait() in STOP_SIGNALS or told
        except queue.Empty:
            break
    if told:
        worker.alive = False
    return told


def post_worker_init(worker: Any) -> None:
    if stopped_before_listening(worker):
        return
    # First, before this worker allocates anything of its own (the app is loaded by now).
    frozen = freeze_loaded_app()
    worker.log.info("worker %s: %d objects of the loaded app frozen out of the garbage "
                    "collector", os.getpid(), frozen)
    from workflows.metrics import register_worker

    register_worker(int(getattr(worker.cfg, "threads", 1) or 1))
    from workflows.maintenance import reaper

    # A new worker usually replaces one that died: its first tick marks that worker's
    # runs at once. A thread of its own: a slow or absent database never delays serving.
    reaper.start()
    if os.environ.get("THAIYYAL_PPROF") == "1":
        from workflows.profiling.agent import start_agent

        start_agent(worker_timeout=getattr(worker.cfg, "timeout", None))


def probe_bind(main_bind: list[str] | str) -> str | None:
    """Where the probe listener listens: THAIYYAL_PROBE_BIND, `off` for nowhere, else the
    main bind's host on port 8081."""
    from thaiyyal.probe_listener import default_probe_bind

    configured = os.environ.get(PROBE_BIND_ENV, "").strip()
    if configured.lower() in {"off", "none", "0"}:
        return None
    if configured:
        return configured
    first = main_bind[0] if isinstance(main_bind, list) else main_bind
    return default_probe_bind(first)


def start_probe_listener(server: Any) -> None:
    """In the master, once its listening sockets exist and before any worker is forked."""
    global _probe_listener
    from thaiyyal import probe_listener as probes
    from thaiyyal.health import ping_new_connection

    bind = probe_bind(server.cfg.bind)
    if bind is None:
        return
    settings = importlib.import_module(os.environ.get("DJANGO_SETTINGS_MODULE",
                                                      "thaiyyal.settings"))
    database = settings.DATABASES["default"]
    view = probes.ArbiterView(server)
    try:
        _probe_listener = probes.ProbeListener(
            probes.parse_bind(bind), live=lambda: probes.liveness(view.state()),
            stopping=lambda: not server.LISTENERS,
            ping=partial(ping_new_connection, database,
                         probes.READY_TIMEOUT_SECONDS)).start()
    except (OSError, ValueError) as exc:
        # A server whose probes cannot answer would be restarted by its orchestrator in a
        # loop: better not to start, and say why.
        server.log.error("probe listener: cannot listen on %s (%s=%s): %s", bind,
                         PROBE_BIND_ENV, os.environ.get(PROBE_BIND_ENV, ""), exc)
        sys.exit(1)
    server.log.info("Probes (/healthz, /readyz) at: http://%s:%s",
                    *_probe_listener.address[:2])


def close_probe_listener_in_worker() -> None:
    """In a worker just forked: it must not hold the master's probe port open."""
    if _probe_listener is not None:
        _probe_listener.close_in_child()


def stop_probe_listener() -> None:
    if _probe_listener is not None:
        _probe_listener.close()
