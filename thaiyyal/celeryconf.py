"""The one Celery app (queue mode), configured from Django's settings (`CELERY_*`, the
broker from THAIYYAL_BROKER_URL). `thaiyyal worker` and `thaiyyal scheduler` run it;
the web tier only publishes to it (workflows/queueing.py)."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.signals import (
    worker_before_create_process,
    worker_init,
    worker_process_init,
    worker_process_shutdown,
    worker_ready,
)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "thaiyyal.settings")

app = Celery("thaiyyal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["workflows"])
# Celery's Django fixup closes the database (and its connection pool) after every task
# unless told to reuse it: with a pool, closing a connection already returns it, and
# closing the pool would pull connections from under the process's watcher threads.
app.conf.update({"CELERY_DB_REUSE_MAX": 1_000_000})


@worker_init.connect
def _wipe_metrics(**_: Any) -> None:
    """Counters start at zero with the worker: a previous worker's files are not summed."""
    from workflows.gunicorn_hooks import wipe_metrics_directory

    wipe_metrics_directory()


@worker_before_create_process.connect
def _freeze_before_forking(**_: Any) -> None:
    """In the worker's main process, before each pool process is forked: the loaded app
    is frozen out of the garbage collector, so that the pool processes' collections never
    walk it, and so never write to the pages they share with the main process (as
    gunicorn's master does for its workers)."""
    from workflows.gunicorn_hooks import freeze_loaded_app

    freeze_loaded_app()


@worker_process_init.connect
def _count_process(**_: Any) -> None:
    from workflows.queue_metrics import WORKER_PROCESSES

    WORKER_PROCESSES.set(1)
    _start_profiling_agent()


def _start_profiling_agent() -> None:
    """THAIYYAL_PPROF=1: this process answers the worker's /debug/pprof/ (as gunicorn's
    workers answer the web tier's)."""
    if os.environ.get("THAIYYAL_PPROF") == "1":
        from workflows.profiling.agent import start_agent

        start_agent()


@worker_process_shutdown.connect
def _forget_process(**_: Any) -> None:
    """Its live gauges stop counting (its counters and histograms stay)."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(os.getpid(), path)


@worker_ready.connect
def _serve_metrics(sender: Any = None, **_: Any) -> None:
    """THAIYYAL_WORKER_METRICS_BIND (host:port): the worker's /metrics, /healthz, /readyz
    and /debug/pprof/ (workflows/worker_ops.py). `sender`: the worker's consumer, whose
    broker connection /readyz reports."""
    bind = os.environ.get("THAIYYAL_WORKER_METRICS_BIND")
    if bind:
        from workflows import worker_ops
        from workflows.queue_metrics import worker_registry

        _start_profiling_agent()
        worker_ops.serve(bind, worker_registry,
                         ready=lambda: worker_ops.broker_connected(sender))


@worker_ready.connect
def _start_reaper(**_: Any) -> None:
    """The worker's main process reaps like a web worker does (one at a time across the
    site, under the advisory lock): a run whose pool process died is marked
    `interrupted` even where no web server runs on the host."""
    from workflows.maintenance import reaper

    reaper.start()
