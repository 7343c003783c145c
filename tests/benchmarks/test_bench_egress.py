"""Keep-alive for http nodes: 200 sequential GETs through the egress client to a loopback
server, plain HTTP and HTTPS, milliseconds per call. Every call is checked by the SSRF
guard and connects only to the checked address; today each opens its own TCP (and TLS)
connection and sends `Connection: close`. Target with pooled connections: <= 0.6 ms per
HTTPS call on loopback. Printed, never asserted (timing assertions flake).

Run: `make bench` (or `pytest tests/benchmarks/test_bench_egress.py --benchmark-only -s`).
"""

from __future__ import annotations

import pytest

from engine.egress import EgressPolicy, Request
from tests.benchmarks.figures import best_of, report
from tests.engine.test_egress_client import client, names_to_loopback, tls_server  # noqa: F401

CALLS = 200
TARGET_HTTPS_MS = 0.6


def _calls(egress, url: str) -> None:
    for _ in range(CALLS):
        response = egress.fetch(Request("GET", url))
        assert response.status == 200


@pytest.mark.benchmark(group="egress")
def test_sequential_gets_plain_http(benchmark, http_server):
    egress = client()
    url = http_server.url("/json")
    benchmark.pedantic(_calls, args=(egress, url), rounds=3, iterations=1)
    ms = best_of(lambda: _calls(egress, url), repeat=3) / CALLS * 1000
    report("egress: 200 sequential GETs, plain HTTP, loopback", ms_per_call=f"{ms:.3f}")


@pytest.mark.benchmark(group="egress")
def test_sequential_gets_https(benchmark, tls_server):  # noqa: F811
    server, trust = tls_server
    egress = client(EgressPolicy(allowed_hosts=("secure.test",)),
                    resolver=names_to_loopback("secure.test"), ssl_context=trust)
    url = f"https://secure.test:{server.port}/json"
    benchmark.pedantic(_calls, args=(egress, url), rounds=3, iterations=1)
    ms = best_of(lambda: _calls(egress, url), repeat=3) / CALLS * 1000
    report("egress: 200 sequential GETs, HTTPS, loopback", ms_per_call=f"{ms:.3f}",
           target=f"<= {TARGET_HTTPS_MS} ms")
