"""The guide's "Example Optimization Workflow" (issue 6, item 2), before and after.

The two workflows are not copied here: they are read from the two JSON blocks of that
section of docs/performance.md, so the docs and this benchmark cannot drift. Only the
example URLs are swapped for a loopback server whose `/items` route answers after a delay
with `{"data": [{"id": ..., "active": ...}, ...]}`.

Which "before"? Thaiyyal runs independent branches at the same time on its own, so the
guide's shape wired naturally (fetch1 -> extract1, fetch2 -> extract2, both -> merge) is
already parallel and would not show what the guide means by "sequential HTTP calls". The
docs' "before" is therefore the chain a user gets when one fetch waits on the other
(extract1 -> fetch2): truly sequential, and it is the baseline of the ratios. The natural
wiring is measured too, as `before_unchained_ms`, to show what the engine gives for free.

Targets (printed, never asserted: timing assertions flake): "after" >= 2x faster than
"before" with a cold response cache, >= 10x with a warm one. With a 100 ms server, two
sequential calls against one round of parallel calls bound the cold ratio at
(200 ms + the before's overhead) / (100 ms + the after's overhead): about 2x, a little
under when the parallel round costs more than half of two sequential ones.

What is asserted, also in `make test` (20 ms server): both give the same items, "before"
calls the server every run, and a warm "after" calls it not at all.

Run: `make bench` (or `pytest tests/benchmarks/test_bench_guide_example.py
--benchmark-only -s`).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from engine import Workflow
from engine.cache import LocalResponseCache
from engine.egress import EgressPolicy
from tests.benchmarks.figures import best_of, report
from tests.httpserver import LoopbackHTTPServer

DOCS = Path(__file__).resolve().parents[2] / "docs" / "performance.md"
SECTION = "## Example Optimization Workflow"
#: the docs' example URLs -> the `set` query of the loopback `/items` route
DOC_URLS = {"https://api.example.com/a": "a", "https://api.example.com/b": "b"}

BENCH_DELAY = 0.1  # the server: 100 ms per response
TEST_DELAY = 0.02  # `make test`: the same checks, quickly


def docs_workflows() -> tuple[dict, dict]:
    """The "Before" and "After" JSON blocks of the docs' example section, parsed."""
    text = DOCS.read_text(encoding="utf-8")
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    blocks = re.findall(r"```json\n(.*?)```", text[start:end if end != -1 else None], re.S)
    assert len(blocks) == 2, f"{DOCS.name}: expected a Before and an After JSON block"
    before, after = (json.loads(block) for block in blocks)
    return before, after


def on_server(payload: dict, server: LoopbackHTTPServer, delay: float) -> dict:
    """The payload with each http node's example URL pointing at the loopback `/items`."""
    payload = json.loads(json.dumps(payload))
    for node in payload["nodes"]:
        if node["type"] == "http":
            url = node["data"]["url"]
            assert url in DOC_URLS, f"docs example uses an unknown URL {url!r}"
            node["data"]["url"] = server.url(f"/items?set={DOC_URLS[url]}&delay={delay}")
    return payload


def unchained(before: dict) -> dict:
    """The "before" without the edge that makes fetch2 wait for extract1: the guide's
    shape as a user would wire it, which the engine already runs in parallel."""
    edges = [e for e in before["edges"]
             if (e["source"], e["target"]) != ("extract1", "fetch2")]
    assert len(edges) == len(before["edges"]) - 1, "docs' before lost its extract1 -> fetch2"
    return {**before, "edges": edges}


def final_items(output: Any) -> Any:
    """The items a run ends with: "before" ends in a filter node, whose result wraps them
    in its envelope (`filtered`, counts); "after" ends in a transform, which is them."""
    return output["filtered"] if isinstance(output, dict) else output


def workflows(server: LoopbackHTTPServer, delay: float) -> tuple[Workflow, Workflow, Workflow]:
    before, after = docs_workflows()
    return (Workflow.load(on_server(before, server, delay)),
            Workflow.load(on_server(unchained(before), server, delay)),
            Workflow.load(on_server(after, server, delay)))


@pytest.fixture
def server(http_server: LoopbackHTTPServer) -> LoopbackHTTPServer:
    return http_server  # the suite's loopback server (tests/conftest.py)


@pytest.fixture
def policy(loopback_policy: EgressPolicy) -> EgressPolicy:
    return loopback_policy


def test_guide_example_before_and_after_give_the_same_items_and_after_caches(server, policy):
    before, before_unchained, after = workflows(server, TEST_DELAY)
    cache = LocalResponseCache()
    services = {"egress_policy": policy, "response_cache": cache}
    server.reset()

    first = before.execute(services=services)
    assert first.status == "succeeded", first.errors
    assert server.hits("/items") == 2
    assert before.execute(services=services).status == "succeeded"
    assert server.hits("/items") == 4, "the docs' before has no cache: every run calls out"
    assert len(cache) == 0

    unchained_result = before_unchained.execute(services=services)
    assert unchained_result.final_output == first.final_output

    server.reset()
    cold = after.execute(services=services)
    assert cold.status == "succeeded", cold.errors
    assert server.hits("/items") == 2
    warm = after.execute(services=services)
    assert server.hits("/items") == 2, "a warm after must be served from the cache"

    items = final_items(first.final_output)
    assert [item["id"] for item in items] == ["a0", "a2", "a4", "b0", "b2", "b4"]
    assert final_items(cold.final_output) == items
    assert final_items(warm.final_output) == items


def test_bench_guide_example_before_vs_after_cold_and_warm(benchmark, server, policy):
    before, before_unchained, after = workflows(server, BENCH_DELAY)
    base = {"egress_policy": policy}
    cache = LocalResponseCache()
    services = {**base, "response_cache": cache}

    def run_before() -> Any:
        return before.execute(services=base)

    def run_cold() -> Any:
        cache.clear()  # both fetches really go out, every run
        return after.execute(services=services)

    def run_warm() -> Any:
        return after.execute(services=services)

    expected = final_items(run_before().final_output)
    assert final_items(run_cold().final_output) == expected
    assert final_items(run_warm().final_output) == expected
    benchmark.pedantic(run_cold, rounds=5, iterations=1)

    before_s = best_of(run_before, repeat=7)
    unchained_s = best_of(lambda: before_unchained.execute(services=base), repeat=7)
    cold_s = best_of(run_cold, repeat=7)
    run_warm()  # prime the cache again after the cold runs cleared it
    server.reset()
    warm_s = best_of(run_warm, repeat=7, number=20)
    warm_calls = server.hits("/items")
    report(f"guide's optimisation example (server delay {BENCH_DELAY * 1e3:.0f} ms)",
           before_ms=f"{before_s * 1e3:.1f}",
           before_unchained_ms=f"{unchained_s * 1e3:.1f}",
           after_cold_ms=f"{cold_s * 1e3:.1f}", after_warm_ms=f"{warm_s * 1e3:.3f}",
           cold_speedup=f"{before_s / cold_s:.2f}x", cold_target=">= 2x",
           warm_speedup=f"{before_s / warm_s:.0f}x", warm_target=">= 10x",
           warm_server_calls=str(warm_calls))
