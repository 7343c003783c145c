"""Metrics of queue mode (docs/queue.md), part of the metrics contract like
workflows/metrics.py:

| metric | type | labels | unit |
|---|---|---|---|
| workflow_queue_depth | gauge | queue | runs waiting on the broker |
| workflow_queue_wait_duration | histogram | | milliseconds queued before a worker took it |
| workflow_worker_runs_total | counter | worker | queued runs a worker executed |
| workflow_worker_processes | gauge (livesum) | | worker processes alive |
| workflow_worker_busy_processes | gauge (livesum) | | worker processes running a run now |
| workflow_callback_deliveries_total | counter | outcome | callback attempts by outcome |

The depth is read from the broker at scrape time (by the web tier's /metrics and the
workers' own endpoint); the others are written by the worker processes (multiprocess
files, like gunicorn's workers) and served by `thaiyyal worker`'s ops listener
(THAIYYAL_WORKER_METRICS_BIND, workflows/worker_ops.py).
"""

from __future__ import annotations

import glob
import logging
import os
from collections.abc import Iterator
from typing import Any

import prometheus_client
from django.conf import settings
from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from workflows.metrics import RUN_BUCKETS_MS

log = logging.getLogger(__name__)

QUEUE_WAIT = Histogram(
    "workflow_queue_wait_duration", "Time a queued run waited for a worker, in milliseconds.",
    buckets=RUN_BUCKETS_MS)
WORKER_RUNS = Counter(
    "workflow_worker_runs", "Queued runs executed, by worker (its Celery node name).",
    ["worker"])
WORKER_PROCESSES = Gauge(
    "workflow_worker_processes", "Queue worker processes alive.", multiprocess_mode="livesum")
WORKER_BUSY = Gauge(
    "workflow_worker_busy_processes", "Queue worker processes executing a run now.",
    multiprocess_mode="livesum")

CALLBACK_DELIVERIES = Counter(
    "workflow_callback_deliveries", "Callback delivery attempts by outcome (delivered, "
    "refused: not retried, retried, gave_up: attempts used up or not queued).", ["outcome"])


class QueueDepthCollector(Collector):
    """`workflow_queue_depth`: messages waiting on the broker's queue, asked at scrape
    time (a passive declare: one round trip, 1 s at most). No sample when the broker
    cannot be asked (the scrape still succeeds)."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("workflow_queue_depth",
                                   "Queued runs waiting for a worker (broker messages).",
                                   labels=["queue"])
        depth = queue_depth()
        if depth is not None:
            family.add_metric([settings.CELERY_TASK_DEFAULT_QUEUE], depth)
        yield family


def queue_depth() -> int | None:
    if not settings.THAIYYAL_BROKER_URL:
        return None
    from kombu import Connection

    try:
        with Connection(settings.THAIYYAL_BROKER_URL, connect_timeout=1) as connection, \
                connection.channel() as channel:
            declared = channel.queue_declare(settings.CELERY_TASK_DEFAULT_QUEUE, passive=True)
            return int(declared.message_count)
    except Exception as exc:  # noqa: BLE001 - not declared yet, or no broker
        log.info("queue depth unavailable: %s", exc)
        return None


def add_collectors(registry: Any) -> None:
    """What a /metrics registry gets from queue mode (the queue depth, asked at scrape)."""
    if settings.THAIYYAL_BROKER_URL:
        registry.register(QueueDepthCollector())


def worker_registry() -> Any:
    """The worker's /metrics: its processes' metrics merged, and the queue depth."""
    from prometheus_client import CollectorRegistry
    from prometheus_client.multiprocess import MultiProcessCollector

    from workflows.metrics import multiprocess_dir

    path = multiprocess_dir()
    if path is None:
        return prometheus_client.REGISTRY
    forget_dead_processes(path)
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path)
    add_collectors(registry)
    return registry


def forget_dead_processes(path: str) -> None:
    """Live gauges of pool processes that died without saying so (SIGKILL, the hard time
    limit) stop counting: Celery has no hook in the parent for a lost child."""
    from prometheus_client import multiprocess

    from workflows.maintenance import pid_alive

    for name in glob.glob(os.path.join(path, "gauge_live*_*.db")):
        pid = name.rsplit("_", 1)[-1].removesuffix(".db")
        if pid.isdigit() and not pid_alive(int(pid)):
            multiprocess.mark_process_dead(int(pid), path)
