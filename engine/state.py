"""Per-run state and the context a node sees while it runs."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from engine.errors import Cancelled, LimitExceeded, NodeTimeout
from engine.expressions.scope import Scope
from engine.limits import Limits
from engine.observe import NullObserver, Observer


@dataclass(slots=True)
class RunState:
    """Mutable state of one run, shared by its nodes (and their threads: take `lock`)."""

    variables: dict[str, Any] = field(default_factory=dict)
    accumulators: dict[str, Any] = field(default_factory=dict)
    counters: dict[str, Any] = field(default_factory=dict)
    #: the `cache` node's store for this run: key -> (value, expires_at monotonic or None)
    cache: dict[str, tuple[Any, float | None]] = field(default_factory=dict)
    http_calls: int = 0
    #: rate_limiter / throttle bookkeeping: key -> that limiter's own state (take `lock`)
    pacing: dict[str, Any] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


class Run:
    """Everything run-wide: limits, deadline, state, results so far, services (HTTP, cache).

    `services` holds what the platform plugs in (e.g. `"http"` -> egress client, `"cache"`
    -> response cache, `"http_clients"` -> named client configs); nodes read them with
    `ctx.run.services.get(name)`.
    """

    __slots__ = ("execution_id", "limits", "started", "deadline", "state", "results", "executions",
                 "context", "observer", "services", "cancel_event", "scope", "_on_cancel",
                 "_cancel_lock")

    def __init__(self, execution_id: str, limits: Limits, context: dict[str, Any],
                 observer: Observer | None, services: dict[str, Any] | None) -> None:
        self.execution_id = execution_id
        self.limits = limits
        self.started = time.monotonic()
        self.deadline = self.started + limits.max_execution_time
        self.state = RunState()
        self.results: dict[str, Any] = {}
        #: next(executions) numbers node executions; atomic under the GIL, so thread-safe
        self.executions = itertools.count(1)
        self.context = context
        self.observer: Observer = observer or NullObserver()
        self.services = services or {}
        self.cancel_event = threading.Event()
        self._on_cancel: list[Callable[[], None]] = []
        self._cancel_lock = threading.Lock()
        self.scope = Scope(
            variables=self.state.variables,
            context=context,
            nodes=self.results,
            max_string_length=limits.max_string_length,
            max_array_length=limits.max_array_length,
            check_deadline=self.check_deadline,
        )

    def check_deadline(self) -> None:
        if time.monotonic() > self.deadline:
            raise LimitExceeded("max_execution_time", f"{self.limits.max_execution_time:g}s")
        if self.cancel_event.is_set():
            raise Cancelled("run cancelled")

    def on_cancel(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call `callback` (e.g. close a socket) if the run is cancelled; returns an
        unregister function. Called at once if the run is already cancelled."""
        with self._cancel_lock:
            if not self.cancel_event.is_set():
                self._on_cancel.append(callback)
                return lambda: self._discard(callback)
        callback()
        return lambda: None

    def _discard(self, callback: Callable[[], None]) -> None:
        with self._cancel_lock:
            if callback in self._on_cancel:
                self._on_cancel.remove(callback)

    def cancel(self) -> None:
        """Stop everything still working for this run: waits wake, sockets close."""
        with self._cancel_lock:
            self.cancel_event.set()
            callbacks, self._on_cancel = self._on_cancel, []
        for callback in callbacks:
            try:
                callback()
            except Exception:  # noqa: BLE001 - best effort: a failing closer must not hide others
                pass


class NodeContext:
    """What `Node.run` receives: the run, this node's id, and its own deadline.

    The node deadline is the run's, or earlier when the node has a `timeout`.
    """

    __slots__ = ("run", "node_id", "deadline", "timeout", "cancel_event", "scope")

    def __init__(self, run: Run, node_id: str, timeout: float | None = None,
                 cancel_event: threading.Event | None = None,
                 scope: Scope | None = None) -> None:
        self.run = run
        #: what expressions see; a loop body's adds `variables.item` / `variables.index`
        self.scope = scope or run.scope
        self.node_id = node_id
        self.timeout = timeout
        self.deadline = run.deadline if timeout is None else min(
            run.deadline, time.monotonic() + timeout)
        self.cancel_event = cancel_event or run.cancel_event

    # Shorthands nodes use all the time.
    @property
    def limits(self) -> Limits:
        return self.run.limits

    @property
    def state(self) -> RunState:
        return self.run.state

    def remaining(self) -> float:
        """Seconds left before this node must stop (never negative)."""
        return max(0.0, self.deadline - time.monotonic())

    def check_deadline(self) -> None:
        """Raise if the run or this node is out of time, or the run was cancelled.
        Long node work (loops, retries, waits) calls this between steps."""
        now = time.monotonic()
        if now > self.run.deadline:
            raise LimitExceeded("max_execution_time",
                                f"{self.run.limits.max_execution_time:g}s", self.node_id)
        if now > self.deadline:
            raise NodeTimeout(f"node timed out after {self.timeout:g}s", self.node_id)
        if self.cancel_event.is_set():
            raise Cancelled("run cancelled", self.node_id)

    def sleep(self, seconds: float) -> None:
        """Wait `seconds`, waking early (and raising) when the deadline comes first or the
        run is cancelled. Never blocks past the deadline."""
        end = time.monotonic() + max(0.0, seconds)
        while True:
            self.check_deadline()
            left = min(end, self.deadline) - time.monotonic()
            if left <= 0:
                break
            if self.cancel_event.wait(left):
                self.check_deadline()
        self.check_deadline()

    def run_body(self, body: Any, input_value: Any, item: Any = None,
                 index: int | None = None) -> Any:
        """Run a loop body (a loaded sub-Workflow) once inside this run: same deadline,
        limits, counters and state. Returns the body's final output; raises the body's
        ExecutionError if it fails. `input`, `item` and `index` are what the body sees."""
        from engine.runner import run_body  # runner imports this module

        return run_body(body, self, input_value, item, index)

    def count_http_call(self) -> None:
        """Count one outbound HTTP call against `max_http_calls`."""
        state = self.run.state
        with state.lock:
            state.http_calls += 1
            calls = state.http_calls
        if calls > self.run.limits.max_http_calls:
            raise LimitExceeded("max_http_calls", self.run.limits.max_http_calls, self.node_id)
