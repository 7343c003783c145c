"""Kept-alive connections for http nodes (engine/egress/transport.py, urllib3 pools): reused only
for the same checked address, port, scheme and TLS name; a connection that hit the size
cap, the deadline or a cancel is closed, never lent again. The connector still sees every
new connection (and connects only to the checked address)."""

from __future__ import annotations

import dataclasses
import json
import shutil
import threading
import time

import pytest

from engine.egress import EgressError, EgressPolicy, EgressTimeout, Request
from engine.errors import LimitExceeded
from tests.engine.test_egress_client import client, names_to_loopback
from tests.httpserver import LoopbackHTTPServer, tls_contexts


@pytest.fixture
def keep_alive_server():
    server = LoopbackHTTPServer(keep_alive=True).start()
    yield server
    server.stop()


def test_sequential_calls_share_one_connection(keep_alive_server):
    egress = client()
    for _ in range(5):
        assert egress.fetch(Request("GET", keep_alive_server.url("/json"))).status == 200
    assert egress.connector.calls == ["127.0.0.1"]
    assert keep_alive_server.connections == 1


def test_a_server_that_closes_gets_a_new_connection_each_call(http_server):
    egress = client()
    for _ in range(3):
        assert egress.fetch(Request("GET", http_server.url("/json"))).status == 200
    assert len(egress.connector.calls) == 3


def test_a_response_past_the_size_cap_is_not_reused(keep_alive_server):
    egress = client()
    assert egress.fetch(Request("GET", keep_alive_server.url("/json"))).status == 200
    capped = dataclasses.replace(egress, policy=dataclasses.replace(
        egress.policy, max_response_bytes=10))  # the same pools: the same connector
    with pytest.raises(LimitExceeded):
        capped.fetch(Request("GET", keep_alive_server.url("/json")))
    assert egress.fetch(Request("GET", keep_alive_server.url("/json"))).status == 200
    assert len(egress.connector.calls) == 2
    assert keep_alive_server.connections == 2


def test_a_call_past_its_deadline_is_not_reused(keep_alive_server):
    egress = client()
    assert egress.fetch(Request("GET", keep_alive_server.url("/json"))).status == 200
    with pytest.raises(EgressTimeout):
        egress.fetch(Request("GET", keep_alive_server.url("/slow?delay=5")),
                     deadline=time.monotonic() + 0.3)
    assert egress.fetch(Request("GET", keep_alive_server.url("/json"))).status == 200
    assert len(egress.connector.calls) == 2


def test_a_cancelled_call_is_not_reused(keep_alive_server):
    egress = client()
    assert egress.fetch(Request("GET", keep_alive_server.url("/json"))).status == 200
    hooks: list = []

    def cancel(callback):
        hooks.append(callback)
        return lambda: None

    threading.Timer(0.2, lambda: hooks[0]()).start()
    with pytest.raises(EgressError, match="cancelled"):
        egress.fetch(Request("GET", keep_alive_server.url("/slow?delay=5")), cancel=cancel)
    assert egress.fetch(Request("GET", keep_alive_server.url("/json"))).status == 200
    assert len(egress.connector.calls) == 2


@pytest.fixture(scope="module")
def keep_alive_tls(tmp_path_factory):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    server_context, trust = tls_contexts(tmp_path_factory.mktemp("tls"), "secure.test")
    server = LoopbackHTTPServer(ssl_context=server_context, keep_alive=True).start()
    yield server, trust
    server.stop()


def test_https_connections_are_kept_per_server_name(keep_alive_tls):
    server, trust = keep_alive_tls
    egress = client(EgressPolicy(allowed_hosts=("secure.test", "wrong.test")),
                    resolver=names_to_loopback("secure.test", "wrong.test"), ssl_context=trust)
    for _ in range(3):
        response = egress.fetch(Request("GET", f"https://secure.test:{server.port}/json"))
        assert response.status == 200
    assert egress.connector.calls == ["127.0.0.1"]
    # The same address and port under another name is another pool: its certificate is
    # checked for that name (and refused), the secure.test connection is not lent to it.
    with pytest.raises(EgressError, match="TLS failed"):
        egress.fetch(Request("GET", f"https://wrong.test:{server.port}/json"))
    assert egress.connector.calls == ["127.0.0.1", "127.0.0.1"]


def test_a_callers_host_header_does_not_replace_the_urls(keep_alive_server):
    response = client().fetch(Request("GET", keep_alive_server.url("/echo"),
                                      headers={"Host": "elsewhere.test"}))
    assert response.status == 200
    assert json.loads(response.body)["headers"]["host"] == (
        f"127.0.0.1:{keep_alive_server.port}")
