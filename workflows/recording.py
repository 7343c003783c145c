"""Writing a run to the database: once at the end, plus a `running` row for long runs.

Most runs take a millisecond or two, so a run is written once, when it ends: the run row
and its node rows in one transaction, one commit. A run still going after
THAIYYAL_RUNNING_ROW_AFTER_MS gets its `running` row committed by a timer thread, so that
if the worker dies mid-run (killed, out of memory) the row is there for the reaper to
mark `interrupted`; the end then updates that row instead of inserting it.

One scheduler thread per process does the timing for every run (a thread per run would
cost ~0.2 ms of every request just to start and stop it).
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import math
import os
import threading
import time
from typing import Any

from django.db import DatabaseError, connections, transaction
from django.utils import timezone

from workflows.models import NodeRun, Run

log = logging.getLogger(__name__)

#: the fields the final write sets when the `running` row is already there
FINISH_FIELDS = ["status", "finished_at", "duration_ms", "execution_id", "final_output",
                 "error"]


def this_worker() -> tuple[str, int]:
    """(host, pid) stored on a run: the reaper uses them to tell whether its worker lives."""
    return os.uname().nodename, os.getpid()


class _Timer:
    """Calls `commit_running()` of each scheduled recorder when its time comes, on one
    daemon thread per process (started on first use, and again in a forked child)."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, RunRecorder]] = []
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._pid: int | None = None

    def schedule(self, delay: float, recorder: RunRecorder) -> None:
        with self._wake:
            if self._pid != os.getpid():
                self._heap.clear()
                self._pid = os.getpid()
                threading.Thread(target=self._loop, name="thaiyyal-running-rows",
                                 daemon=True).start()
            heapq.heappush(self._heap, (time.monotonic() + delay, next(self._order), recorder))
            if self._heap[0][2] is recorder:
                self._wake.notify()

    def _loop(self) -> None:
        while True:
            with self._wake:
                while not self._heap:
                    self._wake.wait()
                due = self._heap[0][0] - time.monotonic()
                if due > 0:
                    self._wake.wait(due)
                    continue
                _, _, recorder = heapq.heappop(self._heap)
            # Outside the lock: a slow insert must not hold up scheduling.
            recorder.commit_running()


_timer = _Timer()


class RunRecorder:
    """Records one run. `start()` schedules the `running` row; `finish()` (or `discard()`)
    ends it. A run that ends first is simply skipped when its time comes.

    The lock orders the timer's insert against the final write: whichever comes second
    sees what the first did, so the row is inserted exactly once.
    """

    def __init__(self, run: Run, running_row_after_ms: int) -> None:
        self.run = run
        self._delay = running_row_after_ms / 1000
        self._lock = threading.Lock()
        self._ended = False
        self._inserted = False

    def start(self) -> None:
        _timer.schedule(self._delay, self)

    @property
    def running_row_committed(self) -> bool:
        return self._inserted

    def commit_running(self) -> None:
        """Called on the timer thread, which has its own database connection (Django's
        are per thread); closed again here (returned to the pool on PostgreSQL)."""
        if self._ended:
            return
        try:
            with self._lock:
                if self._ended:
                    return
                try:
                    self.run.save(force_insert=True)
                    self._inserted = True
                except DatabaseError:
                    log.warning("could not record run %s as running", self.run.id, exc_info=True)
        finally:
            connections.close_all()

    def _end(self) -> bool:
        """No `running` row from now on; True if it was already committed."""
        with self._lock:
            self._ended = True
            return self._inserted

    def finish(self, node_runs: list[NodeRun]) -> None:
        """Write the finished run (fields already set on `self.run`) and its node runs in
        one transaction. Returns only once that is committed."""
        inserted = self._end()
        with transaction.atomic(durable=True):
            if inserted:
                self.run.save(update_fields=FINISH_FIELDS)
            else:
                self.run.save(force_insert=True)
            NodeRun.objects.bulk_create(node_runs)

    def discard(self) -> None:
        """The run never started (e.g. its inputs were refused): leave no trace."""
        if self._end():
            Run.objects.filter(pk=self.run.pk).delete()


def finish_fields(run: Run, status: str, duration_ms: float, execution_id: str,
                  final_output: Any, error: dict[str, Any] | None, output_cap: int) -> None:
    run.status = status
    run.finished_at = timezone.now()
    run.duration_ms = round(duration_ms, 3)
    run.execution_id = execution_id
    run.final_output, _ = capped_json(final_output, output_cap)
    run.error = error


def capped_json(value: Any, cap: int) -> tuple[Any, bool]:
    """`value` as it can be stored in a JSON column, and whether it was cut.

    Past `cap` characters of JSON the value becomes {"preview": <the first cap characters
    of its JSON>, "size": <full length>}. Values JSON cannot hold (NaN, infinities, objects
    that are not JSON) are stored as their text, so recording never fails on them.
    """
    try:
        text = json.dumps(value, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError):
        value = json_safe(value)
        text = json.dumps(value, separators=(",", ":"))
    if len(text) <= cap:
        return value, False
    return {"preview": text[:cap], "size": len(text)}, True


def json_safe(value: Any) -> Any:
    """A copy of `value` that strict JSON can encode: non-finite floats and foreign objects
    become strings."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return str(value)
