"""The http node's response cache shared by every process of every replica (Redis,
through Django's cache), when THAIYYAL_REDIS_URL is set.

Concurrent misses for one key fetch once across processes: the first miss takes a short
lock in Redis (SET NX with an expiry) and fetches; the others wait for its entry (or for
the lock to go: its fetch failed, or its process died) and then try themselves.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from typing import Any

from django.core.cache import BaseCache

log = logging.getLogger(__name__)

#: how long a fetch may hold a key before others stop waiting for it (seconds)
LOCK_SECONDS = 10
#: how often a waiter looks for the entry
POLL_SECONDS = 0.02


class SharedResponseCache:
    """engine.cache.ResponseCache over a Django cache. A cache that is away behaves as a
    miss (the run fetches): a shared cache is an optimisation, never a failure."""

    def __init__(self, cache: BaseCache, lock_seconds: int = LOCK_SECONDS) -> None:
        self._cache = cache
        self._lock_seconds = lock_seconds
        self._mine = threading.local()  # the locks this thread holds: key -> token

    def get(self, key: str) -> Any | None:
        try:
            return self._get(key)
        except Exception as exc:  # noqa: BLE001 - Redis down or slow: fetch instead
            log.warning("shared response cache unavailable: %s", exc)
            return None

    def _get(self, key: str) -> Any | None:
        deadline = time.monotonic() + self._lock_seconds
        while True:
            value = self._cache.get(key)
            if value is not None:
                return value
            token = secrets.token_hex(8)
            if self._cache.add(_lock(key), token, timeout=self._lock_seconds):
                self._held()[key] = token
                return None  # ours to fetch
            while time.monotonic() < deadline:
                time.sleep(POLL_SECONDS)
                value = self._cache.get(key)
                if value is not None:
                    return value
                if self._cache.get(_lock(key)) is None:
                    break  # its fetch failed: try for the lock ourselves
            else:
                return None  # waited long enough: fetch without the lock

    def set(self, key: str, value: Any, ttl: float) -> None:
        try:
            self._cache.set(key, value, timeout=max(1, round(ttl)))
        except Exception as exc:  # noqa: BLE001
            log.warning("shared response cache unavailable: %s", exc)
        self.release(key)

    def release(self, key: str) -> None:
        token = self._held().pop(key, None)
        if token is None:
            return
        try:
            if self._cache.get(_lock(key)) == token:  # not a lock that expired and moved on
                self._cache.delete(_lock(key))
        except Exception as exc:  # noqa: BLE001
            log.warning("shared response cache unavailable: %s", exc)

    def delete(self, key: str) -> None:
        self._cache.delete(key)

    def _held(self) -> dict[str, str]:
        held = getattr(self._mine, "held", None)
        if held is None:
            held = self._mine.held = {}
        return held


def _lock(key: str) -> str:
    return key + ":fetching"
