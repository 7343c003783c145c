"""Database round trips per request in steady state, counted on the wire: a real `thaiyyal
serve` talks to PostgreSQL through the proxy (tests/faultproxy.py), which counts what the
server sends. Token checks (remembered per worker, workflows/api/authentication.py), the
pool's connection check (a socket poll, thaiyyal/pool_check.py), BEGIN/COMMIT and the run's
write all count: a recorded execute is one round trip, an unrecorded one none."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests import loadtest_kit
from tests.faultproxy import FaultProxy
from tests.observability import liveserver
from tests.reliability.conftest import start_proxied_server

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]
BASELINES = json.loads((Path(__file__).parents[1] / "api" / "query_counts.json").read_text())
#: the benchmark's workflow: parse, filter, map, reduce (deploy/loadtest/bench_api.py)
FILTER_MAP_SUM = loadtest_kit.bench_api().filter_map_sum_workflow()
REQUESTS = 30
#: no background round trips while counting: the reaper looks once an hour
QUIET = {"THAIYYAL_REAP_INTERVAL_SECONDS": "3600", "THAIYYAL_AUTH_CACHE_SECONDS": "600"}


def round_trips_per_request(server: liveserver.Server, proxy: FaultProxy, path: str,
                            body: object) -> float:
    for _ in range(5):  # warm: the pool's connections, the token, the loaded workflow
        status, raw, _ = server.request("POST", path, body)
        assert status == 200, raw[:300]
    before = proxy.client_sends
    for _ in range(REQUESTS):
        status, raw, _ = server.request("POST", path, body)
        assert status == 200, raw[:300]
    return (proxy.client_sends - before) / REQUESTS


def test_a_recorded_execute_is_one_round_trip_and_an_unrecorded_one_none(tmp_path, db_proxy):
    for name, record in (("recorded", "1"), ("unrecorded", "0")):
        server = start_proxied_server(tmp_path / name, db_proxy,
                                      THAIYYAL_RECORD_ADHOC_RUNS=record, **QUIET)
        try:
            trips = round_trips_per_request(server, db_proxy, "/api/v1/workflow/execute",
                                            FILTER_MAP_SUM)
        finally:
            liveserver.stop(server.process)
        assert trips == BASELINES[f"round_trips_execute_{name}"], name


def test_a_restarted_database_costs_no_request_an_error(tmp_path, db_proxy):
    """The pool's connections all die while idle (the proxy closes them, as a PostgreSQL
    restart does); the next requests get fresh connections, not errors."""
    server = start_proxied_server(tmp_path, db_proxy, THAIYYAL_RECORD_ADHOC_RUNS="1", **QUIET)
    try:
        for _ in range(5):
            assert server.request("POST", "/api/v1/workflow/execute", FILTER_MAP_SUM)[0] == 200
        opened = db_proxy.connections
        db_proxy.cut("refuse")
        db_proxy.restore()
        statuses = [server.request("POST", "/api/v1/workflow/execute", FILTER_MAP_SUM)[0]
                    for _ in range(10)]
        assert statuses == [200] * 10, server.log.read_text()[-3000:]
        assert db_proxy.connections > opened  # the old connections were replaced
    finally:
        liveserver.stop(server.process)


def test_a_database_restart_under_load_is_never_a_500(tmp_path, db_proxy):
    """Four clients keep executing while PostgreSQL goes away for half a second and comes
    back: while it is away a request may get a 503, never a 500; once it is back, every
    request succeeds again."""
    import threading
    import time

    server = start_proxied_server(tmp_path, db_proxy, workers=2,
                                  THAIYYAL_RECORD_ADHOC_RUNS="1", **QUIET)
    statuses: list[tuple[float, int]] = []
    stop = threading.Event()

    def client() -> None:
        while not stop.is_set():
            status = server.request("POST", "/api/v1/workflow/execute", FILTER_MAP_SUM)[0]
            statuses.append((time.monotonic(), status))

    threads = [threading.Thread(target=client) for _ in range(4)]
    try:
        for thread in threads:
            thread.start()
        time.sleep(1.5)
        db_proxy.cut("refuse")
        time.sleep(0.5)
        db_proxy.restore()
        back = time.monotonic()
        time.sleep(6)
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    finally:
        stop.set()
        liveserver.stop(server.process)
    seen = {status for _, status in statuses}
    assert seen <= {200, 503}, seen
    # Requests answered 4 s after the database returned (past the pool's reconnect
    # back-off) all succeed.
    late = [status for at, status in statuses if at > back + 4]
    assert late
    assert set(late) == {200}, late
