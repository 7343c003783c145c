"""A bounded, thread-safe LRU of loaded workflows, one per worker process.

Loading validates the payload and compiles its expressions and plan; a loaded Workflow is
immutable and safe to run from many threads, so each version (and each distinct ad-hoc
payload) is loaded once per worker, not once per request.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

from engine import Workflow


class LoadedWorkflows:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[Hashable, Workflow] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable, load: Callable[[], Workflow]) -> Workflow:
        """The workflow cached under `key`, or `load()`'s (cached). Load errors propagate
        and are not cached."""
        with self._lock:
            workflow = self._entries.get(key)
            if workflow is not None:
                self._entries.move_to_end(key)
                self.hits += 1
                return workflow
            self.misses += 1
        # Loaded outside the lock: a slow load must not stall other threads' hits. Two
        # threads missing together both load; the result is the same either way.
        workflow = load()
        with self._lock:
            self._entries[key] = workflow
            self._entries.move_to_end(key)
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)
        return workflow

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
