"""Parallel HTTP branches against the loopback server: they overlap, a cap spaces them, and
a join(any) leaves a slow request behind without waiting for it."""

from __future__ import annotations

import threading
import time

import pytest

from engine import execute
from tests.engine.payloads import edge, node


@pytest.fixture
def services(loopback_policy):
    return {"egress_policy": loopback_policy}


def fetches(url, count, cap=None):
    """`count` http branches (behind a parallel node when `cap` is given) joined at `j`."""
    ids = [f"h{i}" for i in range(count)]
    nodes = [node(i, "http", url=url) for i in ids] + [node("j", "join")]
    edges = [edge(i, "j") for i in ids]
    if cap is not None:
        nodes.append(node("par", "parallel", max_concurrency=cap))
        edges += [edge("par", i) for i in ids]
    return {"nodes": nodes, "edges": edges}


def test_parallel_http_fetches_overlap(http_server, services):
    start = time.monotonic()
    result = execute(fetches(http_server.url("/slow?delay=0.2"), 4), services=services)
    elapsed = time.monotonic() - start
    assert result.status == "succeeded", result.errors
    assert result.final_output["values"] == [{"slept": 0.2}] * 4
    assert http_server.hits("/slow") == 4
    assert elapsed < 0.6  # one after another would take 0.8 s


def test_max_concurrency_spaces_http_fetches(http_server, services):
    start = time.monotonic()
    result = execute(fetches(http_server.url("/slow?delay=0.1"), 4, cap=1), services=services)
    assert result.status == "succeeded", result.errors
    assert time.monotonic() - start >= 0.39
    starts = sorted(n.started_ms for n in result.nodes if n.id.startswith("h"))
    assert all(b - a >= 90 for a, b in zip(starts, starts[1:], strict=False))


def test_join_any_moves_on_without_the_slow_request(http_server, services):
    start = time.monotonic()
    result = execute({
        "nodes": [node("fast", "http", url=http_server.url("/json")),
                  node("slow", "http", url=http_server.url("/slow?delay=5")),
                  node("j", "join", join_strategy="any"),
                  node("t", "transform", expression="input.value.hello")],
        "edges": [edge("fast", "j"), edge("slow", "j"), edge("j", "t")],
    }, services=services)
    assert time.monotonic() - start < 2
    assert result.status == "succeeded", result.errors
    assert result.final_output == "world"
    assert {n.id: n.status for n in result.nodes}["slow"] == "cancelled"
    # the slow request's socket was closed, so no thread keeps waiting for it
    prefix = f"thaiyyal-{result.execution_id[:8]}"
    end = time.monotonic() + 2
    while any(t.name.startswith(prefix) for t in threading.enumerate()) and \
            time.monotonic() < end:
        time.sleep(0.01)
    assert not any(t.name.startswith(prefix) for t in threading.enumerate())
