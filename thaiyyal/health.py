"""Liveness and readiness probes: `/healthz` (the process answers) and `/readyz` (the
database answers too). JSON either way; 503 when not ready.

Served by a middleware placed first so a probe works whatever Host header the load
balancer sends (no ALLOWED_HOSTS check), never gets an HTTPS redirect, and costs no
session, auth or URL resolution. These are the main port's answers, given by a free
worker; orchestrators should probe the master's probe port instead
(thaiyyal/probe_listener.py), which answers whatever the workers are doing.
"""

from __future__ import annotations

from collections.abc import Callable

import psycopg
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse


def liveness() -> JsonResponse:
    return JsonResponse({"status": "ok"})


#: a probe answers within this, database down or not (probes time out after a few seconds,
#: and a worker waiting on a dead database serves nothing else meanwhile)
READY_TIMEOUT_SECONDS = 2.0


def readiness() -> JsonResponse:
    try:
        ping_database()
    except (DatabaseError, psycopg.Error) as exc:  # the pool raises psycopg's own errors
        return JsonResponse({"status": "unavailable", "database": str(exc).strip()[:500]},
                            status=503)
    return JsonResponse({"status": "ready", "database": "ok"})


def ping_database() -> None:
    """One round trip to the database; on PostgreSQL, within READY_TIMEOUT_SECONDS."""
    pool = getattr(connection, "pool", None)
    if pool is None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return
    # PostgreSQL with the pool: borrow with a short timeout, not the pool's own (10 s).
    pool.open()
    with pool.connection(timeout=READY_TIMEOUT_SECONDS) as conn:
        conn.execute("SELECT 1")


PROBES: dict[str, Callable[[], JsonResponse]] = {"/healthz": liveness, "/readyz": readiness}


class ProbeMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        probe = PROBES.get(request.path_info.rstrip("/") or "/")
        if probe is not None and request.method in {"GET", "HEAD"}:
            response = probe()
            response["Cache-Control"] = "no-store"
            return response
        return self.get_response(request)
