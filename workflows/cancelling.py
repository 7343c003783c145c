"""Stopping runs at a user's request (POST /api/v1/runs/{id}/cancel).

The request only marks the run's row (`cancel_requested_at`): the run may be executing in
any process on any host. Each process that executes runs watches its own: one thread
asks the database every THAIYYAL_CANCEL_POLL_SECONDS which of them were asked to stop
(one query for all of them, and only while a run has lasted longer than that), and
cancels those through the engine's hook (`run.cancel()`: sockets close, waits wake).
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

from workflows.models import Run

log = logging.getLogger(__name__)


class _Watcher:
    def __init__(self) -> None:
        self._runs: dict[uuid.UUID, tuple[Any, float]] = {}
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

    def forget(self, run_id: uuid.UUID) -> bool:
        """Stop watching; True if the run was cancelled at a user's request."""
        with self._lock:
            self._runs.pop(run_id, None)
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
            if not due:
                continue
            try:
                asked = set(Run.objects.filter(pk__in=due, cancel_requested_at__isnull=False)
                            .values_list("pk", flat=True))
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


watcher = _Watcher()
