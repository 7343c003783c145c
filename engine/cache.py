"""The HTTP response cache: a tiny interface and a bounded in-process TTL+LRU store.

The platform may back `ResponseCache` with Django's cache (Redis in production): values
are picklable `engine.egress.Response` objects, keys are short hex strings.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from engine.limits import MiB

#: only these requests are cached, and only when the response is 2xx
CACHEABLE_METHODS = frozenset({"GET", "HEAD"})

#: request headers that say nothing about the response asked for
_IGNORED_HEADERS = frozenset({"user-agent", "connection", "content-length", "host"})


class ResponseCache(Protocol):
    """What the http node needs from a cache. `get` returns None on a miss.

    A shared cache may make a miss a promise: concurrent misses for one key wait while
    the first caller fetches. That caller then calls `set`, or, when there is nothing to
    store (the fetch failed, the response is not 2xx), `release(key)` if the cache has
    such a method."""

    def get(self, key: str) -> Any | None: ...

    def set(self, key: str, value: Any, ttl: float) -> None: ...

    def delete(self, key: str) -> None: ...


def cache_key(method: str, url: str, headers: Mapping[str, str], body: bytes | None) -> str:
    """A key naming everything that can change the response: method, URL with its query,
    every request header that matters (Authorization and API keys included, so two users'
    responses never mix; the key is a hash, so secrets never appear in it) and the body."""
    digest = hashlib.sha256()
    digest.update(method.upper().encode())
    digest.update(b"\0")
    digest.update(url.encode())
    for name, value in sorted((k.lower(), v) for k, v in headers.items()):
        if name not in _IGNORED_HEADERS:
            digest.update(b"\0" + name.encode() + b":" + value.encode())
    digest.update(b"\0\0")
    digest.update(body or b"")
    return "thaiyyal:http:" + digest.hexdigest()


def _size_of(value: Any) -> int:
    size = getattr(value, "nbytes", None)
    if isinstance(size, int):
        return size
    if isinstance(value, bytes | str):
        return len(value)
    return 1


class LocalResponseCache:
    """Bounded TTL + LRU cache, safe to share between threads and runs.

    Bounded by entry count and by total size (`value.nbytes` when the value has it); the
    least recently used entries go first. Expired entries are dropped when met.
    """

    def __init__(self, max_entries: int = 1024, max_bytes: int = 64 * MiB,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if max_entries <= 0 or max_bytes <= 0:
            raise ValueError("max_entries and max_bytes must be positive")
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._clock = clock
        self._lock = threading.Lock()
        # key -> (expires_at, size, value); order is recency, oldest first
        self._entries: OrderedDict[str, tuple[float, int, Any]] = OrderedDict()
        self._bytes = 0

    def get(self, key: str) -> Any | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[0] <= self._clock():
                self._drop(key)
                return None
            self._entries.move_to_end(key)
            return entry[2]

    def set(self, key: str, value: Any, ttl: float) -> None:
        size = _size_of(value)
        with self._lock:
            if key in self._entries:
                self._drop(key)
            if ttl <= 0 or size > self.max_bytes:
                return  # never fits: keep what is there rather than flush everything
            self._entries[key] = (self._clock() + ttl, size, value)
            self._bytes += size
            while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
                self._drop(next(iter(self._entries)))

    def delete(self, key: str) -> None:
        with self._lock:
            if key in self._entries:
                self._drop(key)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    @property
    def nbytes(self) -> int:
        """Total size of what is stored (as measured at `set`)."""
        return self._bytes

    def _drop(self, key: str) -> None:
        _, size, _ = self._entries.pop(key)
        self._bytes -= size


_default_cache: LocalResponseCache | None = None
_default_lock = threading.Lock()


def default_response_cache() -> LocalResponseCache:
    """The process-wide cache used when the run's services name none."""
    global _default_cache
    with _default_lock:
        if _default_cache is None:
            _default_cache = LocalResponseCache()
        return _default_cache
