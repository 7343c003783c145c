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
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse

log = logging.getLogger(__name__)

#: seconds a client is told to wait before trying again
RETRY_AFTER_SECONDS = 5


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
        log.warning("database unreachable in %s: %s", request.path, exception)
        return unavailable_response()
