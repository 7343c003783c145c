"""Liveness and readiness probes: `/healthz` (the process answers) and `/readyz` (the
database answers too). JSON either way; 503 when not ready.

Served by a middleware placed first so a probe works whatever Host header the load
balancer sends (no ALLOWED_HOSTS check), never gets an HTTPS redirect, and costs no
session, auth or URL resolution. These are the main port's answers, given by a free
worker; orchestrators should probe the master's probe port instead
(thaiyyal/probe_listener.py), which answers whatever the workers are doing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

import psycopg
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse


def liveness() -> JsonResponse:
    return JsonResponse({"status": "ok"})


#: a probe answers within this, database down or not (probes time out after a few seconds,
#: and a worker waiting on a dead database serves nothing else meanwhile)
READY_TIMEOUT_SECONDS = 1.0


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


#: connection options Django passes through to libpq (the rest of OPTIONS is Django's own)
LIBPQ_OPTIONS = ("sslmode", "sslrootcert", "sslcert", "sslkey", "sslpassword", "passfile",
                 "service", "application_name", "options", "target_session_attrs",
                 "gssencmode", "channel_binding")


def ping_new_connection(settings_dict: dict[str, Any], timeout: float) -> None:
    """Connect to the database `settings_dict` (a DATABASES entry) names, run `SELECT 1`,
    disconnect, all within about `timeout`, without Django's connection handling: the
    gunicorn master's probe listener uses this (a fresh connection each time, so the master
    keeps none a forked worker could inherit)."""
    engine = settings_dict["ENGINE"]
    if engine == "django.db.backends.postgresql":
        options = settings_dict.get("OPTIONS", {})
        params = {key: options[key] for key in LIBPQ_OPTIONS if key in options}
        with psycopg.connect(
                dbname=settings_dict.get("NAME") or None, user=settings_dict.get("USER") or None,
                password=settings_dict.get("PASSWORD") or None,
                host=settings_dict.get("HOST") or None,
                port=str(settings_dict["PORT"]) if settings_dict.get("PORT") else None,
                connect_timeout=max(1, round(timeout)),
                # a server that stops answering mid-query fails the ping instead of hanging it
                tcp_user_timeout=int(timeout * 1000), autocommit=True, **params) as conn:
            conn.execute("SELECT 1")
        return
    if engine == "django.db.backends.sqlite3":
        lite = sqlite3.connect(f"file:{settings_dict['NAME']}?mode=rw", uri=True,
                               timeout=timeout)
        try:
            lite.execute("SELECT 1").fetchone()
        finally:
            lite.close()
        return
    raise RuntimeError(f"readiness cannot check a {engine} database")
