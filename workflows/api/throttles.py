"""Request rates as GCRA (generic cell rate algorithm): one timestamp per counted key.

Why not DRF's own throttles: `SimpleRateThrottle` keeps the timestamp of every request
of the window in one cache value and reads and writes it whole on every request. At the
default user rate (20000/min) a busy user's value is a list of up to 20,000 floats,
pickled in and out of the cache twice per throttle per request: 83 µs per read-and-write
at 1,000 entries, 489 µs at 8,000, 1.2 ms at 20,000 (measured with the local-memory
cache; Redis adds the transfer). GCRA keeps the same promise, "N per period, N at once at
most", in one float per key: the "theoretical arrival time" of the next request. A
request is refused while that time lies more than (period - period/N) ahead of now, and
`Retry-After` is exactly how long until it does not.

Rates are looked up at each request (DRF binds THROTTLE_RATES when its classes are
defined, so a changed REST_FRAMEWORK setting, a test's override, would never reach
them). A scope whose rate is None ("off" in the environment) is not throttled.

The timestamps live in Django's cache (the "default" alias): per worker process with the
default local-memory cache, server-wide when CACHES names a shared one
(docs/security.md). Read-then-write, like DRF's: two requests of one key racing on two
workers may both pass at the edge of the rate.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.cache import cache
from rest_framework.exceptions import Throttled
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """"100/min" -> (100, 60): DRF's rate syntax (the period's first letter counts)."""
    count, period = rate.split("/")
    return int(count), _PERIODS[period[0]]


class RateThrottle(BaseThrottle):
    """One scope's rate, counted per key (`get_cache_key`), by GCRA."""

    scope: str | None = None
    cache_format = "throttle_%(scope)s_%(ident)s"

    def __init__(self) -> None:
        self._wait: float | None = None

    @property
    def rate(self) -> str | None:
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope or "")

    def get_cache_key(self, request: Any, view: Any) -> str | None:
        """Counted by user when authenticated, else by client address."""
        user = request.user
        ident = user.pk if user and user.is_authenticated else self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}

    def allow_request(self, request: Any, view: Any) -> bool:
        self._scope_for(view)
        rate = self.rate
        if rate is None:
            return True
        key = self.get_cache_key(request, view)
        if key is None:
            return True
        count, period = parse_rate(rate)
        interval = period / count
        now = time.time()
        stored = cache.get(key)
        due = max(stored, now) if isinstance(stored, float) else now
        ahead = due - now
        if ahead > period - interval:
            self._wait = ahead - (period - interval)
            return False
        # kept until the key would allow a full burst again: nothing is lost by expiry
        cache.set(key, due + interval, timeout=int(ahead + interval) + 1)
        return True

    def wait(self) -> float | None:
        return self._wait

    def _scope_for(self, view: Any) -> None:
        """Scoped throttles take the view's scope (ExecuteThrottle)."""


class AnonThrottle(RateThrottle):
    """Unauthenticated requests, by client address (scope "anon")."""

    scope: str | None = "anon"

    def get_cache_key(self, request: Any, view: Any) -> str | None:
        if request.user and request.user.is_authenticated:
            return None
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class UserThrottle(RateThrottle):
    """Authenticated requests, by user (scope "user"); others by client address."""

    scope: str | None = "user"


class ExecuteThrottle(UserThrottle):
    """Executions, by user, on top of the general ones: the scope is the view's
    `throttle_scope` ("execute"); a view without one is not throttled by it."""

    scope = None

    def _scope_for(self, view: Any) -> None:
        self.scope = getattr(view, "throttle_scope", None)  # None: no rate, not counted


class FailedAuthenticationThrottle(AnonThrottle):
    """A request whose credentials were refused counts against the anonymous rate of its
    client address, in the same counter as AnonThrottle: guessing tokens is throttled like
    any unauthenticated traffic (DRF authenticates before it throttles, so a bad token
    would otherwise get a 401 every time, never a 429)."""

    def get_cache_key(self, request: Any, view: Any) -> str | None:
        # AnonThrottle asks request.user first; here authentication has just failed
        # (asking again would re-run it), so the client is anonymous by definition.
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


def count_failed_authentication(request: Any) -> None:
    """Count a refused credential; raise Throttled (429) past the anonymous rate."""
    throttle = FailedAuthenticationThrottle()
    if throttle.rate is None:
        return
    if not throttle.allow_request(request, None):
        raise Throttled(wait=throttle.wait())
