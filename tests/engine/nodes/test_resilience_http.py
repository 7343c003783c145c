"""retry, timeout and try_catch around real HTTP calls to the loopback server."""

from __future__ import annotations

import time

import pytest

from engine import execute
from tests.engine.payloads import edge, node
from tests.httpserver import LoopbackHTTPServer


@pytest.fixture
def services(loopback_policy):
    return {"egress_policy": loopback_policy}


def attempts_of(result, node_id):
    return next(n.attempts for n in result.nodes if n.id == node_id)


def test_retry_node_resends_a_request_that_failed_with_500(http_server, services):
    url = http_server.url("/flaky?key=retry-node&failures=2")
    result = execute({
        "nodes": [node("h", "http", url=url), node("r", "retry", initial_delay="10ms")],
        "edges": [edge("h", "r")],
    }, services=services)
    assert result.status == "succeeded", result.errors
    assert http_server.hits("/flaky") == 3
    assert attempts_of(result, "h") == 3
    assert result.final_output["success"] is True


def test_retry_node_can_be_limited_to_status_errors(http_server, services):
    url = http_server.url("/flaky?key=retry-on&failures=1")
    result = execute({
        "nodes": [node("h", "http", url=url),
                  node("r", "retry", initial_delay="1ms", retry_on_errors=["http_status"])],
        "edges": [edge("h", "r")],
    }, services=services)
    assert result.status == "succeeded", result.errors
    assert http_server.hits("/flaky") == 2


def test_retry_node_gives_up_and_the_error_names_the_status(http_server, services):
    url = http_server.url("/flaky?key=give-up&failures=9")
    result = execute({
        "nodes": [node("h", "http", url=url),
                  node("r", "retry", max_attempts=2, initial_delay="1ms")],
        "edges": [edge("h", "r")],
    }, services=services)
    assert result.status == "failed"
    assert http_server.hits("/flaky") == 2
    assert "500" in result.error["message"]
    assert "(after 2 attempts)" in result.error["message"]


def test_try_catch_catches_a_failing_http_call(http_server, services):
    result = execute({
        "nodes": [node("h", "http", url=http_server.url("/status?code=503")),
                  node("tc", "try_catch", fallback_value={"items": []}),
                  node("out", "visualization", mode="text")],
        "edges": [edge("h", "tc"), edge("tc", "out")],
    }, services=services)
    assert result.status == "succeeded"
    caught = result.node_results["tc"]
    assert caught["value"] == {"items": []}
    assert caught["error_caught"] is True
    assert caught["error_message"].startswith("error executing node h: ")
    assert "503" in caught["error_message"]


def test_timeout_node_aborts_a_slow_http_call(http_server, services):
    start = time.monotonic()
    result = execute({
        "nodes": [node("h", "http", url=http_server.url("/slow?delay=3")),
                  node("t", "timeout", timeout="200ms")],
        "edges": [edge("h", "t")],
    }, services=services)
    assert time.monotonic() - start < 2
    assert result.status == "failed"
    assert result.error["node_id"] == "h"
    assert result.error["code"] == "timeout"


def test_timeout_then_retry_bounds_and_resends_each_attempt(services):
    # A server of its own: the suite's shared one may still be busy with earlier tests'
    # slow requests, and an attempt that is aborted before the server accepts it never
    # shows up in its log.
    server = LoopbackHTTPServer().start()
    try:
        start = time.monotonic()
        result = execute({
            "nodes": [node("h", "http", url=server.url("/slow?delay=3")),
                      node("t", "timeout", timeout="150ms"),
                      node("r", "retry", max_attempts=2, initial_delay="1ms")],
            "edges": [edge("h", "t"), edge("t", "r")],
        }, services=services)
        assert time.monotonic() - start < 2
        assert result.status == "failed"
        assert result.error["code"] == "timeout"
        assert attempts_of(result, "h") == 2
        assert server.wait_for_hits("/slow", 2, timeout=10), (
            f"hits {server.hits('/slow')}, connections accepted {server.connections}, "
            f"error {result.error}")
    finally:
        server.stop()
