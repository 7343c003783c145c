"""Observer hooks: how the platform learns what a run did without the engine knowing who listens.

Hooks may be called from worker threads (parallel branches); implementations must be
thread-safe and fast. Exceptions raised by an observer are swallowed by the runner so a
broken metrics sink never fails a run.
"""

from __future__ import annotations

from typing import Any, Protocol


class Observer(Protocol):
    def run_started(self, execution_id: str, workflow_id: str | None, node_count: int) -> None: ...

    def run_finished(self, execution_id: str, status: str, duration_ms: float,
                     error_code: str | None) -> None: ...

    def node_started(self, execution_id: str, node_id: str, node_type: str) -> None: ...

    def node_finished(self, execution_id: str, node_id: str, node_type: str, status: str,
                      duration_ms: float, error: str | None) -> None: ...

    def http_call(self, method: str, url: str, status: int | None, duration_ms: float,
                  cached: bool) -> None: ...

    def cache_lookup(self, hit: bool) -> None: ...


class NullObserver:
    """The default: does nothing. Subclass it to implement only the hooks you need."""

    def run_started(self, execution_id: str, workflow_id: str | None, node_count: int) -> None:
        pass

    def run_finished(self, execution_id: str, status: str, duration_ms: float,
                     error_code: str | None) -> None:
        pass

    def node_started(self, execution_id: str, node_id: str, node_type: str) -> None:
        pass

    def node_finished(self, execution_id: str, node_id: str, node_type: str, status: str,
                      duration_ms: float, error: str | None) -> None:
        pass

    def http_call(self, method: str, url: str, status: int | None, duration_ms: float,
                  cached: bool) -> None:
        pass

    def cache_lookup(self, hit: bool) -> None:
        pass


class RecordingObserver(NullObserver):
    """Keeps every event as a tuple; for tests and the CLI's `--trace`."""

    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []

    def run_started(self, execution_id: str, workflow_id: str | None, node_count: int) -> None:
        self.events.append(("run_started", execution_id, workflow_id, node_count))

    def run_finished(self, execution_id: str, status: str, duration_ms: float,
                     error_code: str | None) -> None:
        self.events.append(("run_finished", execution_id, status, error_code))

    def node_started(self, execution_id: str, node_id: str, node_type: str) -> None:
        self.events.append(("node_started", node_id, node_type))

    def node_finished(self, execution_id: str, node_id: str, node_type: str, status: str,
                      duration_ms: float, error: str | None) -> None:
        self.events.append(("node_finished", node_id, node_type, status, error))

    def http_call(self, method: str, url: str, status: int | None, duration_ms: float,
                  cached: bool) -> None:
        self.events.append(("http_call", method, url, status, cached))

    def cache_lookup(self, hit: bool) -> None:
        self.events.append(("cache_lookup", hit))
