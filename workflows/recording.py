"""Writing a run to the database: once at the end, plus a `running` row for long runs.

Most runs take a millisecond or two, so a run is written once, when it ends: the run row
and its node rows in one transaction, one commit. A run still going after
THAIYYAL_RUNNING_ROW_AFTER_MS gets its `running` row committed by a timer thread, so that
if the worker dies mid-run (killed, out of memory) the row is there for the reaper to
mark `interrupted`; the end then updates that row instead of inserting it.

One scheduler thread per process does the timing for every run (a thread per run would
cost ~0.2 ms of every request just to start and stop it).

When the database goes away at the end of a run, the final write is retried briefly on a
fresh connection; after that the caller gets DatabaseUnavailable (the API answers 503)
and the run's outcome waits in the process's pending outcomes, written as `failed` with
the reason once the database answers (docs/reliability.md).
"""

from __future__ import annotations

import collections
import contextlib
import functools
import heapq
import itertools
import json
import logging
import math
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from django.db import DatabaseError, InterfaceError, OperationalError, connections, transaction
from django.db.models import Q
from django.utils import timezone
from psycopg.types.json import Jsonb

from thaiyyal.unavailable import note_unreachable
from workflows.models import NodeRun, Run, RunStatus

log = logging.getLogger(__name__)

#: the fields the final write sets when the `running` row is already there
FINISH_FIELDS = ["status", "finished_at", "duration_ms", "execution_id", "final_output",
                 "error"]


def this_worker() -> tuple[str, int]:
    """(host, pid) stored on a run: the reaper uses them to tell whether its worker lives."""
    return _host(), os.getpid()


@functools.cache
def _host() -> str:
    return os.uname().nodename


class _Timer:
    """Calls `commit_running()` of each scheduled recorder when its time comes, on one
    daemon thread per process (started on first use, and again in a forked child)."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, RunRecorder]] = []
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._pid: int | None = None
        #: times the thread woke (tests count them)
        self.wakes = 0

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
                self.wakes += 1
                # Most runs end long before their time: forget those at the head now, so
                # that the thread sleeps until the first run still going instead of
                # waking once per run (a GIL hand-off each, most of this thread's CPU).
                while self._heap and self._heap[0][2].ended:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._wake.wait()
                    continue
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

    def __init__(self, run: Run, running_row_after_ms: int, *, inserted: bool = False) -> None:
        """`inserted`: the run's row exists already (a queued run a worker claimed)."""
        self.run = run
        self._delay = running_row_after_ms / 1000
        self._lock = threading.Lock()
        self._ended = False
        self._inserted = inserted

    def start(self) -> None:
        _timer.schedule(self._delay, self)

    @property
    def running_row_committed(self) -> bool:
        return self._inserted

    @property
    def ended(self) -> bool:
        """Finished or discarded: no `running` row will be written for it."""
        return self._ended

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

    def finish(self, *, status: str, duration_ms: float, execution_id: str, final_output: Any,
               error: dict[str, Any] | None, node_rows: list[dict[str, Any]]) -> None:
        """Write the finished run and its node runs (NodeRun field values, without `run`;
        `final_output` already capped) in one transaction. Returns only once that is
        committed.

        The timer is stopped before the run's fields change: a `running` row committed
        afterwards could otherwise carry this outcome without its node runs, and stay so
        if this write fails. A lost database connection is retried for
        FINAL_WRITE_RETRY_SECONDS; then the run is left to the pending outcomes (written
        `failed` once the database is back) and DatabaseUnavailable is raised: the caller
        must not tell its client the run succeeded."""
        inserted = self._end()
        run = self.run
        run.status = status
        run.finished_at = timezone.now()
        run.duration_ms = round(duration_ms, 3)
        run.execution_id = execution_id
        run.final_output = final_output
        run.error = error
        try:
            with_retries(lambda: self._write(inserted, node_rows), done=self._written)
        except (OperationalError, InterfaceError) as exc:
            pending_outcomes.add(run, f"the run ended ({status}) but the database "
                                 f"was unreachable when it was to be recorded ({exc}); its "
                                 "client was answered 503 and its results were not kept")
            raise DatabaseUnavailable(str(exc)) from exc

    def _written(self) -> bool:
        """Whether a write that lost its connection had committed all the same (the
        commit's acknowledgement is what was lost): the row carries this finish time."""
        return Run.objects.filter(pk=self.run.pk, finished_at=self.run.finished_at).exists()

    def _write(self, inserted: bool, node_rows: list[dict[str, Any]]) -> None:
        connection = connections[Run.objects.db]
        if not inserted and connection.vendor == "postgresql" and not connection.in_atomic_block:
            insert_in_one_statement(connection, self.run, node_rows)
            return
        if connection.vendor == "postgresql":
            # The slow path (runs that took long enough to have a running row): walking
            # the values for text PostgreSQL refuses costs little next to the run itself.
            for name in ("final_output", "error", "inputs"):
                setattr(self.run, name, storable(getattr(self.run, name)))
            node_rows = storable(node_rows)
        with transaction.atomic(durable=True):
            if inserted:
                self.run.save(update_fields=FINISH_FIELDS)
                # A queued run's node runs so far (workflows/cancelling.py) give way to
                # the complete set.
                NodeRun.objects.filter(run_id=self.run.pk).delete()
            else:
                self.run.save(force_insert=True)
            NodeRun.objects.bulk_create(NodeRun(run=self.run, **row) for row in node_rows)

    def discard(self) -> None:
        """The run never started (e.g. its inputs were refused): leave no trace."""
        if self._end():
            Run.objects.filter(pk=self.run.pk).delete()


class DatabaseUnavailable(OperationalError):
    """The database could not be reached in time: the API answers 503 with Retry-After."""


#: how long the final write of a run keeps trying after its connection was lost: a
#: database that restarts or fails over comes back within this without losing the answer
FINAL_WRITE_RETRY_SECONDS = 1.5


def with_retries(write: Callable[[], None], done: Callable[[], bool],
                 retry_for: float = FINAL_WRITE_RETRY_SECONDS) -> None:
    """`write()`, tried again on a fresh connection while the database connection is what
    fails (a query error is not retried), for up to `retry_for` seconds. Before each
    retry, `done()` says whether the lost attempt had committed after all."""
    connection = connections[Run.objects.db]
    deadline = time.monotonic() + retry_for
    delay = 0.05
    retrying = False
    while True:
        try:
            if not (retrying and done()):
                write()
            return
        except (OperationalError, InterfaceError):
            if connection.in_atomic_block or time.monotonic() + delay > deadline:
                raise
            retrying = True
            # Known unreachable: the retries wait for a connection briefly, not the pool's
            # full timeout each (the 503 comes within the outage bound either way).
            note_unreachable()
        # The broken connection goes back to the pool, which discards it.
        with contextlib.suppress(Exception):
            connection.close()
        time.sleep(delay)
        delay = min(delay * 2, 0.4)


class _PendingOutcomes:
    """Runs whose end could not be written (the database was away): written as `failed`,
    with the reason, by one thread per process that tries every RETRY_SECONDS until the
    database answers. Never as `succeeded`: their clients were not told so. Bounded: past
    MAX_PENDING the oldest are dropped (a `running` row left by one is the reaper's)."""

    RETRY_SECONDS = 1.0
    MAX_PENDING = 1000

    def __init__(self) -> None:
        self._queue: collections.deque[tuple[Run, str]] = collections.deque(
            maxlen=self.MAX_PENDING)
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._thread: threading.Thread | None = None

    def add(self, run: Run, reason: str) -> None:
        with self._lock:
            self._queue.append((run, reason))
            if self._pid != os.getpid() or self._thread is None or not self._thread.is_alive():
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._loop, name="thaiyyal-outcomes",
                                                daemon=True)
                self._thread.start()

    def _loop(self) -> None:
        while True:
            time.sleep(self.RETRY_SECONDS)
            try:
                self.flush()
            finally:
                connections.close_all()
            with self._lock:
                if not self._queue:
                    self._thread = None
                    return

    def flush(self) -> int:
        """Write what can be written now; returns how many were."""
        written = 0
        while True:
            with self._lock:
                if not self._queue:
                    return written
                run, reason = self._queue[0]
            try:
                write_failed_outcome(run, reason)
            except (OperationalError, InterfaceError):
                log.info("run %s: outcome not written yet (database unreachable)", run.id)
                return written
            except DatabaseError:
                # Not the connection: retrying cannot help, and must not hold up the rest.
                log.exception("run %s: outcome cannot be written; dropped", run.id)
            with self._lock:
                if self._queue and self._queue[0][0] is run:
                    self._queue.popleft()
            written += 1


pending_outcomes = _PendingOutcomes()


def write_failed_outcome(run: Run, reason: str) -> None:
    """Mark `run` failed with `reason`: its `running` row if there is one, or the row of
    a final write whose commit went through unacknowledged (it has this run's finish
    time), else a new row. A row another writer finished (the reaper) is left as it is."""
    error = {"code": "database_unavailable", "node_id": None, "message": reason}
    fields = {"status": RunStatus.FAILED, "finished_at": run.finished_at or timezone.now(),
              "duration_ms": run.duration_ms, "execution_id": run.execution_id,
              "final_output": None, "error": error}
    ours = Q(status=RunStatus.RUNNING)
    if run.finished_at is not None:
        ours |= Q(finished_at=run.finished_at)
    with transaction.atomic():
        if Run.objects.filter(ours, pk=run.pk).update(**fields):
            return
        if Run.objects.filter(pk=run.pk).exists():
            return
        for name, value in fields.items():
            setattr(run, name, value)
        run.inputs = storable(run.inputs)
        run.save(force_insert=True)


def insert_in_one_statement(connection: Any, run: Run, node_rows: list[dict[str, Any]]) -> None:
    """INSERT the run and its node runs as one PostgreSQL statement (a data-modifying CTE)
    in autocommit: atomic and durable like a transaction, but one round trip instead of
    four (BEGIN, two INSERTs, COMMIT), which was most of a short run's recording cost.
    The node runs' foreign key is checked at commit (Django makes it deferrable), when
    the run row exists.

    The node rows travel as one JSON array (`jsonb_to_recordset`), so the statement text
    and its parameter count are the same for every run: psycopg caches the parsed query
    (it does not past 50 parameters, and re-parsing cost ~0.2 ms a run)."""
    fields = _insert_fields(Run)
    sql = _run_insert_text(connection.alias)
    params = [field.get_db_prep_save(field.pre_save(run, True), connection=connection)
              for field in fields]
    params = [Jsonb(p.obj, dumps=_json_for_postgres) if isinstance(p, Jsonb) else p
              for p in params]
    if node_rows:
        # NodeRun's field names are its column names (no db_column), so rows go as they are.
        sql = f"WITH run AS ({sql}) {_node_runs_text(connection.alias)}"
        params += [run.pk, Jsonb(node_rows, dumps=_json_for_postgres)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


@functools.cache
def _insert_fields(model: type[Run] | type[NodeRun]) -> list[Any]:
    return [f for f in model._meta.concrete_fields
            if not (f.primary_key and f.get_internal_type().endswith("AutoField"))]


@functools.cache
def _node_run_fields() -> list[Any]:
    """NodeRun's columns but its id (generated) and run (the statement's own parameter)."""
    return [f for f in _insert_fields(NodeRun) if f.name != "run"]


@functools.cache
def _run_insert_text(alias: str) -> str:
    quote = connections[alias].ops.quote_name
    fields = _insert_fields(Run)
    columns = ", ".join(quote(f.column) for f in fields)
    values = ", ".join(["%s"] * len(fields))
    return f"INSERT INTO {quote(Run._meta.db_table)} ({columns}) VALUES ({values})"


@functools.cache
def _node_runs_text(alias: str) -> str:
    connection = connections[alias]
    quote = connection.ops.quote_name
    fields = _node_run_fields()
    run_column = NodeRun._meta.get_field("run").column
    columns = ", ".join(quote(f.column) for f in fields)
    record = ", ".join(f"{quote(f.column)} {f.db_type(connection)}" for f in fields)
    return (f"INSERT INTO {quote(NodeRun._meta.db_table)} ({quote(run_column)}, {columns}) "
            f"SELECT %s, {columns} FROM jsonb_to_recordset(%s) AS r({record})")


NUL_REPLACEMENT = "\ufffd"


def _json_for_postgres(value: Any) -> str:
    """json.dumps of text PostgreSQL can store. Its jsonb and text refuse NUL and lone
    UTF-16 surrogates, which run data from payloads, HTTP responses or `parse` may hold;
    both show up as escapes in the JSON, so only then are the values walked and fixed."""
    text = json.dumps(value)
    if "\\u0000" in text or "\\ud" in text:
        text = json.dumps(storable(value))
    return text


def storable(value: Any) -> Any:
    """A copy of `value` with NUL in its strings (values and keys) replaced by U+FFFD, and
    lone surrogates made valid text (see `valid_text`)."""
    if isinstance(value, str):
        return valid_text(value.replace("\x00", NUL_REPLACEMENT) if "\x00" in value else value)
    if isinstance(value, dict):
        return {storable(k): storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [storable(v) for v in value]
    return value


def valid_text(text: str) -> str:
    """`text` as valid Unicode: lone UTF-16 surrogates (which UTF-8 cannot encode) become
    U+FFFD; the rest, surrogate pairs included, is kept."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


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
    """A copy of `value` that strict JSON can encode as UTF-8: non-finite floats and foreign
    objects become strings, lone surrogates U+FFFD."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, str):
        return valid_text(value)
    if value is None or isinstance(value, int | float | bool):
        return value
    if isinstance(value, dict):
        return {valid_text(str(k)): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return str(value)
