"""Shared engine fixtures. Add yours here; keep each small."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from engine.egress import EgressPolicy
from tests.httpserver import LoopbackHTTPServer


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
