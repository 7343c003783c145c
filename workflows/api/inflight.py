"""A cap on each user's runs in flight (THAIYYAL_MAX_RUNS_IN_FLIGHT per user): past it,
an execute request or a webhook gets a 429 with Retry-After instead of taking another
worker, and a schedule's turn is recorded as a failed run.

A user's runs in flight are the runs executing inside their requests plus their queued
runs (`queued` or `running` on a queue worker: async executes, webhooks, schedules; a
webhook's or a schedule's runs are the workflow owner's).

- Runs inside requests are counted in Django's cache ("default" alias), like the
  throttles: server-wide when CACHES names a shared cache (Redis), per worker process with
  the default local-memory cache. Each entry expires after the longest a run may take plus
  a margin, so a worker killed mid-run cannot leave a user capped for longer than that.
- Queued runs are counted in the database when one more is about to be queued (exact:
  the count and the new row are one transaction holding the user's row). The count is
  also left in the cache (QUEUED_SNAPSHOT_SECONDS), refreshed whenever one of the user's
  queued runs is queued, ends on a worker or is cancelled, so that a synchronous execute
  counts them without a database query (it reads the snapshot in the same cache call that
  looks for its own counter).
"""

from __future__ import annotations

import contextvars
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
#: seconds the snapshot of a user's queued runs is believed by synchronous executes: a
#: run ended without the snapshot hearing of it (a worker killed mid-run, reaped) holds a
#: slot for at most this long; a backlog nobody touches for this long is forgotten by
#: synchronous executes (never by queueing, which counts rows)
QUEUED_SNAPSHOT_SECONDS = 600

#: the user whose slot this request holds: a request that queues its run must not count
#: its own slot as well as the run it queues
_holding: contextvars.ContextVar[Any] = contextvars.ContextVar("thaiyyal_run_slot",
                                                               default=None)


def _key(user_id: Any) -> str:
    return f"thaiyyal:runs-in-flight:{user_id}"


def _queued_key(user_id: Any) -> str:
    return f"thaiyyal:runs-queued:{user_id}"


def _refused(cap: int) -> Throttled:
    return Throttled(wait=RETRY_AFTER, detail=(
        f"too many runs in flight: at most {cap} at once per user; retry when one "
        "has finished"))


@contextmanager
def run_slot(user: Any) -> Iterator[None]:
    """Hold one of the user's run slots for the duration (Throttled when none is free)."""
    cap = settings.THAIYYAL_MAX_RUNS_IN_FLIGHT
    if not cap or not getattr(user, "is_authenticated", False):
        yield
        return
    key = _key(user.pk)
    timeout = int(float(settings.THAIYYAL_LIMITS["max_execution_time"])) + MARGIN
    queued_key = _queued_key(user.pk)
    # One cache call finds both the counter and the queued runs (in place of an add).
    found = cache.get_many([key, queued_key])
    if key not in found:
        cache.add(key, 0, timeout)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout)
        count = 1
    try:
        if count + int(found.get(queued_key) or 0) > cap:
            raise _refused(cap)
        holding = _holding.set(user.pk)
        try:
            yield
        finally:
            _holding.reset(holding)
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


def queued_runs(user_id: Any) -> int:
    """The user's queued runs in flight, counted in the database: `queued`, or `running`
    on a queue worker (a run executed in a request has no `queued_at`)."""
    from workflows.models import Run, RunStatus

    return Run.objects.filter(requested_by_id=user_id, queued_at__isnull=False,
                              status__in=[RunStatus.QUEUED, RunStatus.RUNNING]).count()


def note_queued_runs(user_id: Any, count: int | None = None) -> None:
    """Leave the user's queued-run count (counted now unless given) where synchronous
    executes look for it."""
    if user_id is None or not settings.THAIYYAL_MAX_RUNS_IN_FLIGHT:
        return
    if count is None:
        count = queued_runs(user_id)
    cache.set(_queued_key(user_id), count, QUEUED_SNAPSHOT_SECONDS)


def refuse_past_cap(user_id: Any) -> int:
    """Before queueing one more run for the user (call inside a transaction that holds the
    user's row, so that two at once are counted one after the other): Throttled when the
    user's queued runs plus their runs inside requests already fill the cap. Returns the
    queued runs counted (for note_queued_runs once the new one is written)."""
    cap = settings.THAIYYAL_MAX_RUNS_IN_FLIGHT
    if not cap or user_id is None:
        return 0
    queued = queued_runs(user_id)
    in_requests = int(cache.get(_key(user_id)) or 0)
    if _holding.get() == user_id:
        in_requests -= 1  # this request's own slot: its run is the one being queued
    if queued + in_requests >= cap:
        raise _refused(cap)
    return queued
