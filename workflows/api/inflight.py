"""A cap on each user's runs in flight (THAIYYAL_MAX_RUNS_IN_FLIGHT per user): past it,
an execute request gets a 429 with Retry-After instead of taking another worker.

The count lives in Django's cache ("default" alias), like the throttles: server-wide when
CACHES names a shared cache (Redis), per worker process with the default local-memory
cache. Each entry expires after the longest a run may take plus a margin, so a worker
killed mid-run cannot leave a user capped for longer than that.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.core.cache import cache
from rest_framework.exceptions import Throttled
from rest_framework.request import Request

#: seconds a capped client is asked to wait (runs are short; the one ahead may be done)
RETRY_AFTER = 1
#: seconds a count outlives the longest run, for a worker that died without releasing
MARGIN = 60


def _key(user: Any) -> str:
    return f"thaiyyal:runs-in-flight:{user.pk}"


@contextmanager
def run_slot(user: Any) -> Iterator[None]:
    """Hold one of the user's run slots for the duration (Throttled when none is free)."""
    cap = settings.THAIYYAL_MAX_RUNS_IN_FLIGHT
    if not cap or not getattr(user, "is_authenticated", False):
        yield
        return
    key = _key(user)
    timeout = int(float(settings.THAIYYAL_LIMITS["max_execution_time"])) + MARGIN
    cache.add(key, 0, timeout)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout)
        count = 1
    try:
        if count > cap:
            raise Throttled(wait=RETRY_AFTER, detail=(
                f"too many runs in flight: at most {cap} at once per user; retry when one "
                "has finished"))
        yield
    finally:
        try:
            cache.decr(key)
        except ValueError:
            pass  # expired meanwhile: nothing left to give back


def capped(handler: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap an execute handler (view method) so that it runs inside a run slot."""

    @functools.wraps(handler)
    def wrapper(view: Any, request: Request, *args: Any, **kwargs: Any) -> Any:
        with run_slot(request.user):
            return handler(view, request, *args, **kwargs)

    return wrapper
