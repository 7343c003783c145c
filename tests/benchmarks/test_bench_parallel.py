"""Parallel branches against a loopback server whose every response takes 100 ms.

Targets (issue 3): 8 parallel fetches <= 1.3x one fetch; the docs' example (two cached
HTTP fetches in parallel, join, transform) about one fetch's time cold, and near zero
once the response cache is warm. Figures are printed, never asserted on.

Run: `make bench` (or `pytest tests/benchmarks/test_bench_parallel.py --benchmark-only -s`).
"""

from __future__ import annotations

import pytest

from engine import RecordingObserver, Workflow
from engine.cache import LocalResponseCache
from engine.egress import EgressPolicy
from tests.benchmarks.figures import best_of, report
from tests.httpserver import LoopbackHTTPServer

DELAY = 0.1


@pytest.fixture
def server(http_server: LoopbackHTTPServer) -> LoopbackHTTPServer:
    return http_server  # the suite's loopback server (tests/conftest.py)


@pytest.fixture
def policy(loopback_policy: EgressPolicy) -> EgressPolicy:
    return loopback_policy


def fetches(server: LoopbackHTTPServer, count: int) -> dict:
    ids = [f"h{i}" for i in range(count)]
    nodes = [{"id": i, "type": "http",
              "data": {"url": server.url(f"/slow?delay={DELAY}&n={n}")}}
             for n, i in enumerate(ids)]
    if count == 1:
        return {"nodes": nodes, "edges": []}
    nodes.append({"id": "j", "type": "join", "data": {"join_strategy": "all"}})
    return {"nodes": nodes, "edges": [{"source": i, "target": "j"} for i in ids]}


def docs_example(server: LoopbackHTTPServer) -> dict:
    """Two cached fetches in parallel, a join, then a transform of both bodies."""
    return {
        "nodes": [
            {"id": "users", "type": "http",
             "data": {"url": server.url(f"/slow?delay={DELAY}&what=users"), "cache": True}},
            {"id": "orders", "type": "http",
             "data": {"url": server.url(f"/slow?delay={DELAY}&what=orders"), "cache": True}},
            {"id": "both", "type": "join", "data": {"join_strategy": "all"}},
            {"id": "total", "type": "transform",
             "data": {"expression": "input.values[0].slept + input.values[1].slept"}},
        ],
        "edges": [{"source": "users", "target": "both"}, {"source": "orders", "target": "both"},
                  {"source": "both", "target": "total"}],
    }


def test_bench_eight_parallel_fetches_vs_one(benchmark, server, policy):
    services = {"egress_policy": policy}
    one, eight = Workflow.load(fetches(server, 1)), Workflow.load(fetches(server, 8))
    assert one.execute(services=services).status == "succeeded"
    assert eight.execute(services=services).final_output["count"] == 8
    benchmark.pedantic(eight.execute, kwargs={"services": services}, rounds=5, iterations=1)
    one_s = best_of(lambda: one.execute(services=services), repeat=7)
    eight_s = best_of(lambda: eight.execute(services=services), repeat=7)
    report(f"8 parallel fetches vs 1 (server delay {DELAY * 1000:.0f} ms)",
           one_fetch_ms=f"{one_s * 1e3:.1f}", eight_parallel_ms=f"{eight_s * 1e3:.1f}",
           ratio=f"{eight_s / one_s:.2f}x", target="<= 1.3x")


def test_bench_docs_example_two_cached_fetches_join_transform(benchmark, server, policy):
    wf = Workflow.load(docs_example(server))
    one = Workflow.load(fetches(server, 1))
    base = {"egress_policy": policy}

    def cold() -> object:
        # a fresh response cache each run: both fetches really go out, in parallel
        return wf.execute(services={**base, "response_cache": LocalResponseCache()})

    warm_cache = LocalResponseCache()
    warm_services = {**base, "response_cache": warm_cache}
    observer = RecordingObserver()
    first = wf.execute(services=warm_services, observer=observer)
    assert first.final_output == pytest.approx(2 * DELAY)
    benchmark.pedantic(cold, rounds=5, iterations=1)
    one_s = best_of(lambda: one.execute(services=base), repeat=7)
    cold_s = best_of(cold, repeat=7)
    runs = 20
    warm_s = best_of(lambda: wf.execute(services=warm_services, observer=observer),
                     repeat=1, number=runs)
    lookups = [e[1] for e in observer.events if e[0] == "cache_lookup"]
    report("docs example: 2 cached fetches in parallel -> join -> transform",
           one_fetch_ms=f"{one_s * 1e3:.1f}", cold_ms=f"{cold_s * 1e3:.1f}",
           cold_vs_one=f"{cold_s / one_s:.2f}x", warm_ms=f"{warm_s * 1e3:.2f}",
           cache_hits=str(lookups.count(True)), cache_misses=str(lookups.count(False)),
           target="cold ~ one fetch")
