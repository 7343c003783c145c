"""The database going away is an answer, not a hang: a 503 JSON with Retry-After.

Any request that needs the database and cannot reach it (connection refused, lost, or
not lent by the pool within THAIYYAL_DB_POOL_TIMEOUT) ends here: DRF's exception handler
(workflows/api/errors.py) for API views, DatabaseUnavailableMiddleware for other views
(with DEBUG on too, where Django would show its debug page), and the site-wide 500
handler (thaiyyal/errors.py) for errors raised in middleware (a session lookup).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

import psycopg
from django.db import InterfaceError, OperationalError, connection
from django.db.backends.signals import connection_created
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, JsonResponse

from thaiyyal.access_log import redact_path

log = logging.getLogger(__name__)

#: seconds a client is told to wait before trying again
RETRY_AFTER_SECONDS = 5
#: while the database is known to be away, a request waits this long for a connection
#: instead of the pool's full timeout: a sync worker answers the next 503s at once rather
#: than a second each, so a queue of clients does not build up behind it
OUTAGE_POOL_TIMEOUT = 0.1

_pool_timeout: float | None = None  # the pool's own timeout, while it is lowered


def note_unreachable() -> None:
    """The database was just found unreachable: the pool lends quickly or not at all until
    a connection is made again (see _reachable_again)."""
    global _pool_timeout
    pool = getattr(connection, "pool", None)
    if pool is None or pool.timeout <= OUTAGE_POOL_TIMEOUT:
        return
    _pool_timeout = pool.timeout
    pool.timeout = OUTAGE_POOL_TIMEOUT


@receiver(connection_created)
def _reachable_again(sender: object, connection: object, **kwargs: object) -> None:
    # Sent each time Django takes a connection from the pool: cheap when nothing is lowered.
    global _pool_timeout
    if _pool_timeout is None:
        return
    pool = getattr(connection, "pool", None)
    if pool is not None:
        pool.timeout = _pool_timeout
    _pool_timeout = None


def database_unreachable(exc: BaseException | None) -> bool:
    """True for errors that mean "no usable database connection", not a faulty query.

    Django wraps psycopg's errors (the pool's PoolTimeout is a psycopg OperationalError)
    in its own classes; some paths (the pool used directly) raise psycopg's."""
    return isinstance(exc, OperationalError | InterfaceError | psycopg.OperationalError
                      | psycopg.InterfaceError)


def current_exception_is_unreachable_database() -> bool:
    """Inside an `except` block (Django's 500 handler is called in one)."""
    return database_unreachable(sys.exc_info()[1])


def unavailable_body() -> dict[str, object]:
    """The 503's body (every 503 for want of a database is built here)."""
    note_unreachable()
    return {"success": False, "error": "the database is unavailable: try again shortly",
            "details": [], "retry_after": RETRY_AFTER_SECONDS}


def unavailable_response() -> JsonResponse:
    response = JsonResponse(unavailable_body(), status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    return response


class DatabaseUnavailableMiddleware:
    """A view that raised because the database is unreachable answers 503 JSON."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not database_unreachable(exception):
            return None
        log.warning("database unreachable in %s: %s", redact_path(request.path), exception)
        return unavailable_response()
