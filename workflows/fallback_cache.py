"""Django's Redis cache, falling back to a per-process cache while Redis is away.

With THAIYYAL_REDIS_URL set, Django's default cache holds what every process must share:
the DRF throttle counts, the runs-in-flight cap (workflows/api/inflight.py) and the http
node's response cache. Django's RedisCache raises on a refused or timed-out connection,
which would turn every throttled request into a 500 for as long as Redis is down. This
backend answers from a local-memory cache of the process instead (the limits then hold
per process, as without Redis: fail soft, not open and not shut), logs the outage once,
and tries Redis again every RETRY_SECONDS, so a down Redis costs one connection attempt
per process per interval, not one per request.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger(__name__)

#: seconds between attempts to reach Redis again once it failed
RETRY_SECONDS = 5.0
#: what a failed attempt raises: Redis away (anything else is a real error)
UNREACHABLE = (RedisConnectionError, RedisTimeoutError, ConnectionError, TimeoutError)

T = TypeVar("T")


class RedisCacheWithFallback(RedisCache):
    """RedisCache whose operations fall back to a per-process LocMemCache while Redis
    cannot be reached (see the module's docstring)."""

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        # Django makes one cache backend per thread; the fallback entries must be the
        # process's, so the local cache is named after the Redis it stands in for (local-
        # memory caches of one name share their store).
        name = f"thaiyyal-redis-fallback-{server}-{params.get('KEY_PREFIX', '')}"
        self.local = LocMemCache(name, {"TIMEOUT": params.get("TIMEOUT", 300),
                                        "KEY_PREFIX": params.get("KEY_PREFIX", ""),
                                        "OPTIONS": {"MAX_ENTRIES": 10_000}})
        self._down_until = 0.0
        self._lock = threading.Lock()

    @property
    def redis_down(self) -> bool:
        """Whether operations go to the local fallback now."""
        return time.monotonic() < self._down_until

    def _either(self, remote: Callable[[], T], local: Callable[[], T]) -> T:
        if self.redis_down:
            return local()
        try:
            value = remote()
        except UNREACHABLE as exc:
            with self._lock:
                first = self._down_until == 0.0
                self._down_until = time.monotonic() + RETRY_SECONDS
            if first:
                log.warning("Redis cache unreachable (%s): throttles, the runs-in-flight cap "
                            "and the response cache count per process until it is back",
                            str(exc)[:200])
            return local()
        if self._down_until:
            with self._lock:
                if self._down_until:
                    self._down_until = 0.0
                    log.warning("Redis cache reachable again: counts are shared again")
        return value

    def add(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT,
            version: Any = None) -> bool:
        return self._either(lambda: super(RedisCacheWithFallback, self).add(
            key, value, version=version, timeout=timeout),
            lambda: self.local.add(key, value, version=version, timeout=timeout))

    def get(self, key: Any, default: Any = None, version: Any = None) -> Any:
        return self._either(lambda: super(RedisCacheWithFallback, self).get(
            key, default, version),
            lambda: self.local.get(key, default, version))

    def set(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT,
            version: Any = None) -> None:
        self._either(lambda: super(RedisCacheWithFallback, self).set(
            key, value, version=version, timeout=timeout),
            lambda: self.local.set(key, value, version=version, timeout=timeout))

    def touch(self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None) -> bool:
        return self._either(lambda: super(RedisCacheWithFallback, self).touch(
            key, version=version, timeout=timeout),
            lambda: self.local.touch(key, version=version, timeout=timeout))

    def delete(self, key: Any, version: Any = None) -> bool:
        return self._either(lambda: super(RedisCacheWithFallback, self).delete(key, version),
                            lambda: self.local.delete(key, version))

    def get_many(self, keys: Any, version: Any = None) -> dict[Any, Any]:
        return self._either(lambda: super(RedisCacheWithFallback, self).get_many(keys, version),
                            lambda: self.local.get_many(keys, version))

    def has_key(self, key: Any, version: Any = None) -> bool:
        return self._either(lambda: super(RedisCacheWithFallback, self).has_key(key, version),
                            lambda: self.local.has_key(key, version))

    def incr(self, key: Any, delta: int = 1, version: Any = None) -> int:
        # decr is incr(-delta) (BaseCache): covered too
        return self._either(lambda: super(RedisCacheWithFallback, self).incr(
            key, delta, version),
            lambda: self.local.incr(key, delta, version))

    def set_many(self, data: dict[Any, Any], timeout: Any = DEFAULT_TIMEOUT,
                 version: Any = None) -> list[Any]:
        return self._either(lambda: super(RedisCacheWithFallback, self).set_many(
            data, version=version, timeout=timeout),
            lambda: self.local.set_many(data, version=version, timeout=timeout))

    def delete_many(self, keys: Any, version: Any = None) -> None:
        self._either(lambda: super(RedisCacheWithFallback, self).delete_many(keys, version),
                     lambda: self.local.delete_many(keys, version))

    def clear(self) -> None:
        self.local.clear()
        self._either(lambda: super(RedisCacheWithFallback, self).clear(), lambda: None)

