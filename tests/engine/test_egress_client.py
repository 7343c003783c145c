"""The egress client against a real HTTP(S) server on 127.0.0.1 (the only peer tests use)."""

from __future__ import annotations

import json
import shutil
import socket
import threading
import time
import tracemalloc

import pytest

from engine.egress import (
    CallAbort,
    EgressClient,
    EgressError,
    EgressPolicy,
    EgressRefused,
    EgressTimeout,
    Request,
    connect,
    fetch,
)
from engine.errors import LimitExceeded
from engine.limits import Limits
from engine.state import Run
from tests.httpserver import LoopbackHTTPServer, gzip_bomb, tls_contexts

LOOPBACK = EgressPolicy(allowed_networks=("127.0.0.1/32",))


class LoopbackOnly:
    """A connector that connects to 127.0.0.1 only and records every address asked for."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, address: str, port: int, timeout: float, abort: CallAbort):
        self.calls.append(address)
        if address != "127.0.0.1":
            pytest.fail(f"tried to connect to {address}")
        return connect(address, port, timeout, abort)


def names_to_loopback(*names: str):
    def resolver(host: str, port: int, timeout: float) -> list[str]:
        if host not in names:
            pytest.fail(f"unexpected lookup of {host}")
        return ["127.0.0.1"]
    return resolver


def client(policy: EgressPolicy = LOOPBACK, **kwargs) -> EgressClient:
    kwargs.setdefault("connector", LoopbackOnly())
    return EgressClient(policy, **kwargs)


def get_json(response) -> object:
    return json.loads(response.body)


def test_fetch_returns_status_headers_body_and_final_url(http_server):
    response = client().fetch(Request("GET", http_server.url("/json")))
    assert response.status == 200
    assert response.ok
    assert response.media_type == "application/json"
    assert get_json(response) == {"hello": "world", "items": [1, 2, 3]}
    assert response.url == http_server.url("/json")
    assert response.elapsed > 0


def test_request_method_headers_query_and_body_arrive_as_sent(http_server):
    response = client().fetch(Request(
        "POST", http_server.url("/echo?a=1&b=two"),
        {"Content-Type": "application/json", "X-Trace": "abc"}, b'{"n": 1}'))
    echo = get_json(response)
    assert echo["method"] == "POST"
    assert echo["query"] == {"a": "1", "b": "two"}
    assert echo["headers"]["x-trace"] == "abc"
    assert echo["headers"]["content-length"] == "8"
    assert echo["body"] == '{"n": 1}'


def test_host_header_names_the_url_host_while_the_socket_goes_to_the_checked_address(
        http_server):
    connector = LoopbackOnly()
    egress = client(EgressPolicy(allowed_hosts=("api.test",)),
                    resolver=names_to_loopback("api.test"), connector=connector)
    response = egress.fetch(Request("GET", f"http://api.test:{http_server.port}/echo"))
    assert get_json(response)["headers"]["host"] == f"api.test:{http_server.port}"
    assert connector.calls == ["127.0.0.1"]


def test_loopback_is_refused_without_an_allowlist_and_nothing_is_sent(http_server):
    with pytest.raises(EgressRefused, match="127.0.0.1 is loopback"):
        EgressClient(EgressPolicy()).fetch(Request("GET", http_server.url("/json")))
    assert http_server.hits("/json") == 0


def test_head_returns_headers_without_a_body(http_server):
    response = client().fetch(Request("HEAD", http_server.url("/json")))
    assert response.status == 200
    assert response.body == b""
    assert response.headers["content-type"] == "application/json"


@pytest.mark.parametrize("path", ["/gzip-json", "/deflate-json", "/raw-deflate-json"])
def test_compressed_bodies_are_decoded(http_server, path):
    assert get_json(client().fetch(Request("GET", http_server.url(path)))) == {
        "compressed": True}


def test_unknown_content_encoding_is_an_error_not_garbage(http_server):
    with pytest.raises(EgressError, match="unsupported content-encoding 'br'"):
        client().fetch(Request("GET", http_server.url("/encoded?encoding=br")))


def test_module_level_fetch_uses_the_given_policy(http_server):
    assert fetch(Request("GET", http_server.url("/json")), LOOPBACK).status == 200
    with pytest.raises(EgressRefused):
        fetch(Request("GET", http_server.url("/json")), EgressPolicy())


def test_redirect_chain_is_followed_and_each_hop_checked(http_server):
    egress = client()
    response = egress.fetch(Request("GET", http_server.url("/redirect?n=5")))
    assert get_json(response)["redirected"] is True
    assert response.redirects == 5
    assert response.url == http_server.url("/redirect?n=0&status=302")
    assert egress.connector.calls == ["127.0.0.1"] * 6


def test_more_than_five_redirects_stop_the_call(http_server):
    with pytest.raises(LimitExceeded, match="max_http_redirects=5"):
        client().fetch(Request("GET", http_server.url("/redirect?n=6")))
    assert http_server.hits("/redirect") == 6


@pytest.mark.parametrize(("location", "rule"), [
    ("http://10.0.0.1/admin", "10.0.0.1 is private (RFC 1918)"),
    ("http://169.254.169.254/latest/meta-data/", "cloud metadata"),
    ("http://[::ffff:192.168.0.1]/", "IPv4-mapped 192.168.0.1"),
    ("http://2852039166/", "cloud metadata"),
    ("file:///etc/passwd", "scheme 'file' not allowed"),
])
def test_redirect_to_a_blocked_address_is_refused_before_connecting(http_server, location,
                                                                    rule):
    egress = client()
    url = http_server.url(f"/redirect-to?url={location}")
    with pytest.raises(EgressRefused, match="redirect 1 from") as caught:
        egress.fetch(Request("GET", url))
    assert rule in caught.value.message
    assert egress.connector.calls == ["127.0.0.1"]


def test_see_other_turns_a_post_into_a_get_without_body(http_server):
    response = client().fetch(Request(
        "POST", http_server.url("/redirect?n=1&status=303"),
        {"Content-Type": "application/json"}, b'{"a": 1}'))
    assert get_json(response)["method"] == "GET"
    assert get_json(response)["body"] == ""


def test_temporary_redirect_keeps_method_and_body(http_server):
    response = client().fetch(Request("POST", http_server.url("/redirect?n=1&status=307"),
                                      {}, b"payload"))
    assert get_json(response)["method"] == "POST"
    assert get_json(response)["body"] == "payload"


def test_credentials_do_not_follow_a_redirect_to_another_origin(http_server):
    port = http_server.port
    egress = client(EgressPolicy(allowed_hosts=("api.test", "other.test")),
                    resolver=names_to_loopback("api.test", "other.test"))
    same = egress.fetch(Request("GET", f"http://api.test:{port}/redirect?n=1",
                                {"Authorization": "Bearer s3cret"}))
    assert get_json(same)["authorization"] == "Bearer s3cret"
    away = f"http://other.test:{port}/redirect?n=0"
    moved = egress.fetch(Request("GET", f"http://api.test:{port}/redirect-to?url={away}",
                                 {"Authorization": "Bearer s3cret", "X-Api-Key": "k"},
                                 sensitive_headers=frozenset({"x-api-key"})))
    assert get_json(moved)["authorization"] is None
    assert "x-api-key" not in http_server.last("/redirect").headers


def test_body_larger_than_the_cap_aborts_the_call(http_server):
    policy = EgressPolicy(allowed_networks=("127.0.0.1/32",), max_response_bytes=100_000)
    with pytest.raises(LimitExceeded, match="max_http_response_bytes=100000"):
        client(policy).fetch(Request("GET", http_server.url("/huge?size=5000000")))
    ok = client(policy).fetch(Request("GET", http_server.url("/huge?size=100000")))
    assert len(ok.body) == 100_000


def test_gzip_bomb_stops_at_the_decoded_cap_without_inflating_in_memory(http_server):
    size = 256 * 1024 * 1024
    gzip_bomb(size)  # built before measuring: the server's memory is not the client's
    policy = EgressPolicy(allowed_networks=("127.0.0.1/32",), max_response_bytes=1024 * 1024)
    tracemalloc.start()
    try:
        with pytest.raises(LimitExceeded, match="max_http_response_bytes"):
            client(policy).fetch(Request("GET", http_server.url(f"/gzip-bomb?size={size}")))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024, f"peak {peak} bytes"


def test_run_limits_lower_the_policy_bounds():
    bounded = LOOPBACK.bounded_by(Limits(max_http_response_bytes=1000, http_timeout=2.0,
                                         max_http_redirects=1))
    assert (bounded.max_response_bytes, bounded.total_timeout, bounded.max_redirects) == (
        1000, 2.0, 1)
    assert bounded.allowed_networks == LOOPBACK.allowed_networks


def test_total_timeout_bounds_a_server_that_never_answers(http_server):
    policy = EgressPolicy(allowed_networks=("127.0.0.1/32",), total_timeout=0.3)
    started = time.monotonic()
    with pytest.raises(EgressTimeout, match="timed out"):
        client(policy).fetch(Request("GET", http_server.url("/hang")))
    assert 0.25 <= time.monotonic() - started < 2.0


def test_total_timeout_bounds_a_body_that_trickles_in(http_server):
    # each byte comes well within any per-read timeout; only a total bound stops this
    policy = EgressPolicy(allowed_networks=("127.0.0.1/32",), total_timeout=0.4)
    started = time.monotonic()
    with pytest.raises(EgressTimeout):
        client(policy).fetch(Request("GET", http_server.url("/drip?size=100&interval=0.05")))
    assert time.monotonic() - started < 2.0


def test_deadline_earlier_than_the_timeout_wins(http_server):
    started = time.monotonic()
    with pytest.raises(EgressTimeout):
        client().fetch(Request("GET", http_server.url("/hang")), deadline=started + 0.2)
    assert time.monotonic() - started < 1.5


def test_cancelling_the_run_closes_the_socket_at_once(http_server):
    run = Run("cancel-test", Limits(), {}, None, None)
    timer = threading.Timer(0.2, run.cancel)
    timer.start()
    started = time.monotonic()
    with pytest.raises(EgressError, match="cancelled"):
        client().fetch(Request("GET", http_server.url("/hang")), cancel=run.on_cancel)
    assert 0.15 <= time.monotonic() - started < 1.5
    timer.join()


def test_already_cancelled_run_sends_nothing(http_server):
    run = Run("cancel-test", Limits(), {}, None, None)
    run.cancel()
    with pytest.raises(EgressError, match="cancelled"):
        client().fetch(Request("GET", http_server.url("/count")), cancel=run.on_cancel)
    assert http_server.hits("/count") == 0


def test_before_send_runs_once_per_hop_and_can_stop_the_call(http_server):
    seen: list[str] = []
    client().fetch(Request("GET", http_server.url("/redirect?n=2")), before_send=seen.append)
    assert len(seen) == 3

    def refuse(url: str) -> None:
        raise LimitExceeded("max_http_calls", 0)

    with pytest.raises(LimitExceeded):
        client().fetch(Request("GET", http_server.url("/count")), before_send=refuse)
    assert http_server.hits("/count") == 0


def test_header_injection_is_rejected(http_server):
    with pytest.raises(EgressError, match="invalid request"):
        client().fetch(Request("GET", http_server.url("/echo"),
                               {"X-Evil": "a\r\nHost: other"}))


def test_connection_refused_is_a_clear_error():
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(EgressError, match="connection refused"):
        client().fetch(Request("GET", f"http://127.0.0.1:{port}/"))


def test_responses_pickle_for_shared_caches(http_server):
    import pickle

    response = client().fetch(Request("GET", http_server.url("/json")))
    assert pickle.loads(pickle.dumps(response)) == response


# -- HTTPS ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory):
    """An HTTPS loopback server with a certificate for `secure.test` from a throwaway CA."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    server_context, trust = tls_contexts(tmp_path_factory.mktemp("tls"), "secure.test")
    server = LoopbackHTTPServer(ssl_context=server_context).start()
    yield server, trust
    server.stop()


def test_https_verifies_the_certificate_for_the_url_host_on_the_checked_address(tls_server):
    server, trust = tls_server
    egress = client(EgressPolicy(allowed_hosts=("secure.test",)),
                    resolver=names_to_loopback("secure.test"), ssl_context=trust)
    response = egress.fetch(Request("GET", f"https://secure.test:{server.port}/echo"))
    assert get_json(response)["headers"]["host"] == f"secure.test:{server.port}"
    assert egress.connector.calls == ["127.0.0.1"]


def test_https_refuses_a_certificate_for_another_name(tls_server):
    server, trust = tls_server
    egress = client(EgressPolicy(allowed_hosts=("wrong.test",)),
                    resolver=names_to_loopback("wrong.test"), ssl_context=trust)
    with pytest.raises(EgressError, match="TLS failed"):
        egress.fetch(Request("GET", f"https://wrong.test:{server.port}/json"))


def test_https_refuses_a_certificate_from_an_unknown_authority(tls_server):
    server, _ = tls_server
    egress = client(EgressPolicy(allowed_hosts=("secure.test",)),
                    resolver=names_to_loopback("secure.test"))
    with pytest.raises(EgressError, match="TLS failed"):
        egress.fetch(Request("GET", f"https://secure.test:{server.port}/json"))
