"""Writing a run to the database: once at the end, plus a `running` row for long runs.

Most runs take a millisecond or two, so a run is written once, when it ends: the run row
and its node rows in one transaction, one commit. A run still going after
THAIYYAL_RUNNING_ROW_AFTER_MS gets its `running` row committed by a timer thread, so that
if the worker dies mid-run (killed, out of memory) the row is there for the reaper to
mark `interrupted`; the end then updates that row instead of inserting it.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
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


class RunRecorder:
    """Records one run. `start()` arms the timer; `finish()` (or `discard()`) ends it.

    The lock orders the timer's insert against the final write: whichever comes second
    sees what the first did, so the row is inserted exactly once.
    """

    def __init__(self, run: Run, running_row_after_ms: int) -> None:
        self.run = run
        self._lock = threading.Lock()
        self._ended = False
        self._inserted = False
        self._timer = threading.Timer(running_row_after_ms / 1000, self._commit_running)
        self._timer.daemon = True

    def start(self) -> None:
        self._timer.start()

    @property
    def running_row_committed(self) -> bool:
        return self._inserted

    def _commit_running(self) -> None:
        # Runs on the timer thread, which has its own database connection (Django's are
        # per thread); it is closed here so the thread leaves nothing open behind.
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
        """Stop the timer; True if the `running` row was committed."""
        self._timer.cancel()
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
