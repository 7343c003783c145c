"""The connection pool's check before lending a connection, without a round trip per request.

psycopg_pool's own check (what CONN_HEALTH_CHECKS turns on) sends an empty query before
every lend: a database round trip on every request. This one costs a poll of the socket:

- a connection the server closed while it sat in the pool (a restart, a failover, an
  idle-session timeout) has its end, or the server's FATAL message, waiting on the
  socket: it is discarded and the pool lends another one (or connects afresh), so a
  database restart does not turn into a failed request;
- a connection idle longer than THAIYYAL_DB_CHECK_IDLE_SECONDS (30 s) gets the full check
  too, because a middlebox can drop an idle connection without telling either end;
  0 checks every connection with a round trip (psycopg_pool's behaviour).

A connection cut by the network while in use is what the retry and 503 paths handle
(docs/reliability.md); the full check could not see it coming either.
"""

from __future__ import annotations

import select
import time
import weakref
from typing import Any

import psycopg
from django.conf import settings
from psycopg_pool import ConnectionPool

#: when each connection was last lent (a connection's idle time is at most now minus that)
_lent_at: weakref.WeakKeyDictionary[psycopg.Connection[Any], float] = (
    weakref.WeakKeyDictionary())


def _has_pending_input(conn: psycopg.Connection[Any]) -> bool:
    poller = select.poll()
    poller.register(conn.pgconn.socket, select.POLLIN | select.POLLERR | select.POLLHUP)
    return bool(poller.poll(0))


def check_connection(conn: psycopg.Connection[Any]) -> None:
    """Raise when `conn` must not be lent (the pool then discards it and tries another)."""
    now = time.monotonic()
    last_lent = _lent_at.get(conn)
    _lent_at[conn] = now
    if conn.closed or conn.broken:
        raise psycopg.OperationalError("the connection is closed")
    # An idle connection has nothing to read: anything there is the server's goodbye.
    if _has_pending_input(conn):
        # Closed here, so that the pool replaces it: a connection that only failed the
        # check, still "idle" to libpq, would go back into the pool and be lent again.
        conn.close()
        raise psycopg.OperationalError("the server closed the connection while it was idle")
    idle_limit = settings.THAIYYAL_DB_CHECK_IDLE_SECONDS
    if last_lent is None or now - last_lent >= idle_limit:
        ConnectionPool.check_connection(conn)


def install(sender: Any, connection: Any, **kwargs: Any) -> None:
    """`connection_created` receiver: give a PostgreSQL pool this check instead of its own.

    Django builds the pool with psycopg_pool's check (CONN_HEALTH_CHECKS) and offers no
    setting for another one, so the pool's check is swapped on first use in each process;
    the first lend of a process pays the full check."""
    pool = getattr(connection, "pool", None)
    if pool is not None and getattr(pool, "_check", None) is not None \
            and pool._check is not check_connection:
        pool._check = check_connection
