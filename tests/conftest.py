"""Suite-wide setup. Django is configured by pytest-django (tests/settings.py); engine
tests never touch the database, so they run without one."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from engine.egress import EgressPolicy
from tests.faultproxy import FaultProxy, postgres_url, proxy_for
from tests.httpserver import LoopbackHTTPServer


def pytest_sessionstart(session: pytest.Session) -> None:
    """With THAIYYAL_REQUIRE_POSTGRES=1 (CI) the suite fails at once, rather than skipping
    or quietly using SQLite, when PostgreSQL is not the database or cannot be reached."""
    if os.environ.get("THAIYYAL_REQUIRE_POSTGRES") != "1":
        return
    from django.conf import settings

    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.postgresql":
        pytest.exit("THAIYYAL_REQUIRE_POSTGRES=1 but DATABASE_URL is not a PostgreSQL URL",
                    returncode=1)
    import psycopg

    try:
        psycopg.connect(host=db["HOST"] or None, port=db["PORT"] or None, user=db["USER"],
                        password=db["PASSWORD"] or None, dbname=db["NAME"],
                        connect_timeout=5).close()
    except psycopg.Error as exc:
        pytest.exit(f"THAIYYAL_REQUIRE_POSTGRES=1 but PostgreSQL is unreachable: {exc}",
                    returncode=1)


@pytest.fixture(scope="session")
def _loopback_http_server() -> Iterator[LoopbackHTTPServer]:
    server = LoopbackHTTPServer().start()
    yield server
    server.stop()


@pytest.fixture
def http_server(_loopback_http_server: LoopbackHTTPServer) -> LoopbackHTTPServer:
    """A real HTTP server on 127.0.0.1 (routes in tests/httpserver.py), with its request
    log and counters reset for this test."""
    _loopback_http_server.reset()
    return _loopback_http_server


@pytest.fixture
def loopback_policy() -> EgressPolicy:
    """An egress policy whose allowlist opens 127.0.0.1 only: tests reach their server."""
    return EgressPolicy(allowed_networks=("127.0.0.1/32",))


@pytest.fixture
def db_proxy() -> Iterator[FaultProxy]:
    """A cuttable TCP proxy in front of DATABASE_URL's PostgreSQL (tests/faultproxy.py):
    `proxy.url_for(url)` for a server's DATABASE_URL, then `cut("refuse" | "hang")` and
    `restore()`. Skips on SQLite."""
    proxy = proxy_for(postgres_url())
    yield proxy
    proxy.close()
