"""What the probe listener's answers mean, from the server state it reads (the live
behaviour is in test_probes.py)."""

from __future__ import annotations

import time

import psycopg
import pytest

from thaiyyal.health import ping_new_connection
from thaiyyal.probe_listener import (
    HEARTBEAT_GRACE_SECONDS,
    NO_WORKER_GRACE_SECONDS,
    READY_TIMEOUT_SECONDS,
    PingResult,
    ServerState,
    default_probe_bind,
    liveness,
    parse_bind,
    readiness_answer,
)
from workflows.gunicorn_hooks import probe_bind


def test_busy_workers_are_alive():
    # A worker in a 20 s run has not checked in for 20 s: that is gunicorn's business
    # until its timeout, not a reason to restart the server.
    state = ServerState(listening=True, worker_silence={11: 20.0, 12: 20.0, 13: 0.1},
                        timeout=60)

    assert liveness(state) == (200, {"status": "ok", "workers": 3})


def test_a_server_booting_its_workers_is_alive():
    state = ServerState(listening=True, worker_silence={}, timeout=60, without_workers=5.0)

    assert liveness(state)[0] == 200


def test_a_server_without_workers_past_the_grace_is_not_alive():
    state = ServerState(listening=True, worker_silence={}, timeout=60,
                        without_workers=NO_WORKER_GRACE_SECONDS + 1)

    status, body = liveness(state)

    assert status == 503
    assert "no worker process" in body["reason"]


def test_a_worker_the_master_failed_to_kill_makes_the_server_not_alive():
    overdue = 60 + HEARTBEAT_GRACE_SECONDS + 1
    state = ServerState(listening=True, worker_silence={11: 0.5, 12: overdue}, timeout=60)

    status, body = liveness(state)

    assert status == 503
    assert "[12]" in body["reason"]


def test_a_draining_server_stays_alive_so_its_runs_can_finish():
    state = ServerState(listening=False, worker_silence={11: 5.0}, timeout=60)

    assert liveness(state) == (200, {"status": "ok", "stopping": True})


def test_readiness_is_the_database_answer():
    assert readiness_answer(PingResult(0.0, None)) == (200, {"status": "ready", "database": "ok"})
    assert readiness_answer(PingResult(0.0, "OperationalError: refused")) == (
        503, {"status": "unavailable", "database": "OperationalError: refused"})
    assert readiness_answer(None)[1]["database"] == "no answer within 2s"


@pytest.mark.parametrize(("text", "address"), [
    ("127.0.0.1:8081", ("127.0.0.1", 8081)),
    ("0.0.0.0:9000", ("0.0.0.0", 9000)),
    (":8081", ("0.0.0.0", 8081)),
    ("[::1]:8081", ("::1", 8081)),
])
def test_parse_bind(text, address):
    assert parse_bind(text) == address


@pytest.mark.parametrize("text", ["8081", "host", "host:0", "host:99999", "host:http"])
def test_parse_bind_rejects_what_is_not_host_port(text):
    with pytest.raises(ValueError, match="HOST:PORT"):
        parse_bind(text)


@pytest.mark.parametrize(("main", "probe"), [
    ("0.0.0.0:8080", "0.0.0.0:8081"),
    ("127.0.0.1:9000", "127.0.0.1:8081"),
    ("[::]:8080", "[::]:8081"),
    ("unix:/run/thaiyyal.sock", "127.0.0.1:8081"),
])
def test_the_default_probe_port_is_8081_on_the_main_host(main, probe):
    assert default_probe_bind(main) == probe


def test_probe_bind_comes_from_the_environment_or_is_off(monkeypatch):
    monkeypatch.setenv("THAIYYAL_PROBE_BIND", "10.0.0.5:9999")
    assert probe_bind(["0.0.0.0:8080"]) == "10.0.0.5:9999"
    monkeypatch.setenv("THAIYYAL_PROBE_BIND", "off")
    assert probe_bind(["0.0.0.0:8080"]) is None
    monkeypatch.delenv("THAIYYAL_PROBE_BIND")
    assert probe_bind(["0.0.0.0:8080"]) == "0.0.0.0:8081"


@pytest.mark.django_db
def test_the_masters_database_check_connects_afresh():
    from django.db import connection

    ping_new_connection(connection.settings_dict, READY_TIMEOUT_SECONDS)  # no error: ready


def test_the_masters_database_check_fails_fast_when_nothing_listens():
    settings = {"ENGINE": "django.db.backends.postgresql", "NAME": "none", "USER": "nobody",
                "HOST": "127.0.0.1", "PORT": 9, "OPTIONS": {"pool": {"max_size": 4}}}
    started = time.monotonic()

    with pytest.raises(psycopg.OperationalError):
        ping_new_connection(settings, READY_TIMEOUT_SECONDS)

    assert time.monotonic() - started < READY_TIMEOUT_SECONDS
