"""Stopping runs at a user's request (POST /api/v1/runs/{id}/cancel), and showing the
node runs of a queued run so far.

The request only marks the run's row (`cancel_requested_at`): the run may be executing in
any process on any host. Each process that executes runs watches its own: one thread
asks the database every THAIYYAL_CANCEL_POLL_SECONDS which of them were asked to stop
(one query for all of them, and only while a run has lasted longer than that), and
cancels those through the engine's hook (`run.cancel()`: sockets close, waits wake).
On the same turn it writes the node runs that finished since the last one, for runs on
queue workers (their clients follow them with GET /api/v1/runs/{id}); the final write
replaces them with the complete set.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connections

from engine.observe import NullObserver
from workflows.models import NodeRun, Run

log = logging.getLogger(__name__)


class Progress(NullObserver):
    """Collects a run's finished nodes (observer hook, any thread) until the watcher
    writes them."""

    def __init__(self, run_id: uuid.UUID) -> None:
        self.run_id = run_id
        self._start = time.monotonic()
        self._pending: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def node_finished(self, execution_id: str, node_id: str, node_type: str, status: str,
                      duration_ms: float, error: str | None) -> None:
        offset = (time.monotonic() - self._start) * 1000 - duration_ms
        with self._lock:
            self._pending.append({"node_id": node_id, "node_type": node_type,
                                  "status": status, "duration_ms": round(duration_ms, 3),
                                  "started_offset_ms": round(max(offset, 0.0), 3),
                                  "error": (error or "")[:1000]})

    def take(self) -> list[dict[str, Any]]:
        with self._lock:
            rows, self._pending = self._pending, []
        return rows


class _Watcher:
    def __init__(self) -> None:
        self._runs: dict[uuid.UUID, tuple[Any, float]] = {}
        self._progress: dict[uuid.UUID, Progress] = {}
        self._cancelled: set[uuid.UUID] = set()
        self._lock = threading.Lock()
        self._pid: int | None = None

    def watch(self, run_id: uuid.UUID, engine_run: Any) -> None:
        """Cancel `engine_run` (the engine's Run) if its row is asked to stop."""
        with self._lock:
            self._runs[run_id] = (engine_run, time.monotonic())
            if self._pid != os.getpid():  # first use, or a forked child: no thread yet
                self._pid = os.getpid()
                threading.Thread(target=self._loop, name="thaiyyal-cancel-watch",
                                 daemon=True).start()

    def report(self, progress: Progress) -> None:
        """Write `progress`'s node runs to its run's row as they finish (until forget)."""
        with self._lock:
            self._progress[progress.run_id] = progress

    def forget(self, run_id: uuid.UUID) -> bool:
        """Stop watching; True if the run was cancelled at a user's request."""
        with self._lock:
            self._runs.pop(run_id, None)
            self._progress.pop(run_id, None)
            if run_id in self._cancelled:
                self._cancelled.discard(run_id)
                return True
            return False

    def _loop(self) -> None:
        while True:
            interval = settings.THAIYYAL_CANCEL_POLL_SECONDS
            time.sleep(interval)
            with self._lock:
                due = [run_id for run_id, (_, since) in self._runs.items()
                       if time.monotonic() - since >= interval
                       and run_id not in self._cancelled]
                reporting = list(self._progress.values())
            if not due and not reporting:
                continue
            try:
                self._write_progress(reporting)
                asked = set(Run.objects.filter(pk__in=due, cancel_requested_at__isnull=False)
                            .values_list("pk", flat=True)) if due else set()
            except DatabaseError:
                log.warning("could not check runs for cancel requests", exc_info=True)
                asked = set()
            finally:
                connections.close_all()
            for run_id in asked:
                with self._lock:
                    entry = self._runs.get(run_id)
                    if entry is None:
                        continue
                    self._cancelled.add(run_id)
                log.info("run %s: cancelled at a user's request", run_id)
                entry[0].cancel()

    def _write_progress(self, reporting: list[Progress]) -> None:
        rows = [NodeRun(run_id=p.run_id, **row) for p in reporting for row in p.take()]
        with self._lock:  # not after the run's final write (which forgot it first)
            rows = [row for row in rows if row.run_id in self._progress]
            if rows:
                NodeRun.objects.bulk_create(rows)


watcher = _Watcher()
