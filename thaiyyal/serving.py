"""Numbers `thaiyyal serve` and deploy/gunicorn.conf.py agree on. Light to import: the
gunicorn master reads it before any worker loads Django."""

from __future__ import annotations

import math
import os

from engine.limits import Limits, parse_duration


def default_workers() -> int:
    """2 x CPUs + 1 (gunicorn's rule of thumb): runs wait on HTTP nodes and delays as
    well as computing. Counts the CPUs this process may use, not the machine's."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        cpus = os.cpu_count() or 1
    return 2 * cpus + 1


def max_execution_time() -> float:
    """The server's execution limit in seconds, from THAIYYAL_MAX_EXECUTION_TIME."""
    raw = os.environ.get("THAIYYAL_MAX_EXECUTION_TIME", "").strip()
    return parse_duration(raw) if raw else Limits().max_execution_time


def worker_timeout(limit: float) -> int:
    """Gunicorn's worker timeout: above the execution limit, so the engine stops a long run
    (recorded as failed) well before gunicorn would kill the worker mid-run."""
    return math.ceil(limit) + 30


def graceful_timeout(limit: float) -> int:
    """On restart or shutdown, a worker may finish the run in hand: up to the limit."""
    return math.ceil(limit) + 5
