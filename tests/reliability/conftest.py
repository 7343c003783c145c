"""Fault-injection fixtures: PostgreSQL behind a cuttable proxy (tests/faultproxy.py) and a
real `thaiyyal serve` whose DATABASE_URL goes through it. Real faults only: the proxy
is cut, workers are SIGKILLed; nothing is mocked.

The `db_proxy` fixture is the suite's (tests/conftest.py). These tests need PostgreSQL
over TCP (DATABASE_URL); on SQLite they skip (CI sets THAIYYAL_REQUIRE_POSTGRES=1, where a
missing PostgreSQL fails the whole suite)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.faultproxy import FaultProxy, postgres_url
from tests.observability import liveserver


class Database:
    """Direct reads of the server's database (not through the proxy): what was recorded."""

    def __init__(self, url: str) -> None:
        self.url = url

    def run(self, run_id: Any) -> dict[str, Any] | None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            row = conn.execute(
                "SELECT status, error, final_output, "
                "(SELECT count(*) FROM workflows_noderun n WHERE n.run_id = r.id) "
                "FROM workflows_run r WHERE id = %s", [str(run_id)]).fetchone()
        if row is None:
            return None
        return {"status": row[0], "error": row[1], "final_output": row[2], "node_runs": row[3]}

    def latest_run_ids(self, since: Any) -> list[str]:
        with psycopg.connect(self.url, autocommit=True) as conn:
            rows = conn.execute("SELECT id FROM workflows_run WHERE started_at >= %s "
                                "ORDER BY started_at", [since]).fetchall()
        return [str(r[0]) for r in rows]


@pytest.fixture
def database() -> Database:
    return Database(postgres_url())


def start_proxied_server(tmp: Path, proxy: FaultProxy, workers: int = 1,
                         **env: str) -> liveserver.Server:
    """liveserver.start_server with DATABASE_URL through `proxy`."""
    return liveserver.start_server(tmp, workers=workers,
                                   DATABASE_URL=proxy.url_for(postgres_url()), **env)


@pytest.fixture
def proxied_server(tmp_path: Path, db_proxy: FaultProxy) -> Iterator[liveserver.Server]:
    """One worker (what a test's token opened before a fault is known to that worker),
    reaping every second with a 3 s grace."""
    server = start_proxied_server(tmp_path, db_proxy, THAIYYAL_REAP_INTERVAL_SECONDS="1",
                                  THAIYYAL_REAP_GRACE_SECONDS="3")
    try:
        yield server
    finally:
        liveserver.stop(server.process)
