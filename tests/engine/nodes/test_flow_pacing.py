"""delay, rate_limiter and throttle: they really wait, space executions, and never wait past
the deadline. Timing asserts are lower bounds or generous upper bounds."""

from __future__ import annotations

import time

import pytest

from engine import Limits, execute
from engine.errors import Cancelled
from engine.state import NodeContext, Run
from tests.engine.payloads import edge, node


def new_run(limits=None):
    return Run("pacing-test", limits or Limits(), {}, None, None)


def times_of(node, run, count):
    """Run `node` `count` times in one run; when each execution was let through."""
    out = []
    for i in range(count):
        node.run([i], NodeContext(run, node.id))
        out.append(time.monotonic())
    return out


# -- delay ------------------------------------------------------------------------------

def test_delay_waits_then_passes_its_input_on(run_node):
    start = time.monotonic()
    result = run_node("delay", {"duration": "150ms"}, {"x": 1})
    assert time.monotonic() - start >= 0.14
    assert result == {"value": {"x": 1}, "duration": "150ms", "delayed": True}


def test_delay_accepts_seconds_as_a_number_and_echoes_it_as_given(run_node):
    assert run_node("delay", {"duration": 0.01})["duration"] == 0.01


def test_delay_requires_a_valid_duration(load_problems):
    assert load_problems("delay", {}) == [
        {"path": "$.nodes[0].data.duration", "message": "required (duration)"}]
    [problem] = load_problems("delay", {"duration": "soon"})
    assert problem["path"] == "$.nodes[0].data.duration"
    assert "not a duration" in problem["message"]


def test_delay_wakes_when_the_run_is_cancelled(load_node):
    delay = load_node("delay", {"duration": "10s"})
    run = new_run()
    run.cancel()
    start = time.monotonic()
    with pytest.raises(Cancelled):
        delay.run([], NodeContext(run, delay.id))
    assert time.monotonic() - start < 1


# -- rate_limiter -----------------------------------------------------------------------

def test_rate_limiter_lets_max_requests_through_per_window(load_node):
    limiter = load_node("rate_limiter", {"max_requests": 2, "per_duration": "200ms"})
    run = new_run()
    start = time.monotonic()
    t = times_of(limiter, run, 5)
    assert t[1] - start < 0.1  # the first two pass at once
    assert t[2] - start >= 0.19  # the third waits for the first to leave the window
    assert t[4] - start >= 0.39


def test_rate_limiter_result_reports_the_window(load_node):
    limiter = load_node("rate_limiter", {"max_requests": 3, "window": "1s"})
    run = new_run()
    results = [limiter.run([i], NodeContext(run, limiter.id)) for i in range(2)]
    assert results[1] == {"value": 1, "rate_limited": True, "requests_count": 2,
                          "max_requests": 3, "window": "1s"}


def test_rate_limiter_state_is_per_run(load_node):
    limiter = load_node("rate_limiter", {"max_requests": 1, "per_duration": "10s"})
    start = time.monotonic()
    for _ in range(3):  # a fresh run each time: nobody waits
        limiter.run([0], NodeContext(new_run(), limiter.id))
    assert time.monotonic() - start < 1


def test_parallel_branches_sharing_a_limiter_key_share_one_budget():
    branches = [f"r{i}" for i in range(4)]
    result = execute({
        "nodes": [node(b, "rate_limiter", max_requests=2, per_duration="300ms",
                       limiter_key="api") for b in branches]
        + [node("j", "join")],
        "edges": [edge(b, "j") for b in branches],
    })
    assert result.status == "succeeded"
    waited = sorted(n.duration_ms for n in result.nodes if n.id in branches)
    assert all(w < 150 for w in waited[:2])
    assert all(w >= 250 for w in waited[2:])


def test_rate_limiter_wait_ends_at_the_run_deadline():
    start = time.monotonic()
    result = execute({
        "nodes": [node("a", "rate_limiter", max_requests=1, per_duration="60s",
                       limiter_key="k"),
                  node("b", "rate_limiter", max_requests=1, per_duration="60s",
                       limiter_key="k")],
        "edges": [edge("a", "b")],
    }, limits=Limits(max_execution_time=0.4))
    assert time.monotonic() - start < 5
    assert result.status == "failed"
    assert result.error["code"] == "limit_exceeded"
    assert "max_execution_time" in result.error["message"]


def test_rate_limiter_refuses_empty_budgets(load_problems):
    problems = load_problems("rate_limiter", {"max_requests": 0, "per_duration": 0})
    assert problems == [
        {"path": "$.nodes[0].data.max_requests", "message": "must be at least 1"},
        {"path": "$.nodes[0].data.per_duration", "message": "must be greater than zero"},
    ]


# -- throttle ---------------------------------------------------------------------------

def test_throttle_spaces_executions_by_one_over_the_rate(load_node):
    throttle = load_node("throttle", {"requests_per_second": 10})
    run = new_run()
    t = times_of(throttle, run, 4)
    gaps = [b - a for a, b in zip(t, t[1:], strict=False)]
    assert all(gap >= 0.09 for gap in gaps), gaps


def test_throttle_first_execution_passes_at_once(run_node):
    assert run_node("throttle", {}, "v") == {"value": "v", "throttled": True,
                                             "requests_per_second": 5, "delay_ms": 0}


def test_throttle_shared_key_spaces_parallel_branches():
    branches = [f"t{i}" for i in range(3)]
    result = execute({
        "nodes": [node(b, "throttle", requests_per_second=5, limiter_key="api")
                  for b in branches] + [node("j", "join")],
        "edges": [edge(b, "j") for b in branches],
    })
    delays = sorted(result.node_results[b]["delay_ms"] for b in branches)
    assert delays[0] == 0
    assert delays[1] >= 180
    assert delays[2] >= 380


def test_throttle_refuses_a_rate_that_is_not_positive(load_problems):
    assert load_problems("throttle", {"requests_per_second": -1}) == [
        {"path": "$.nodes[0].data.requests_per_second", "message": "must be greater than zero"}]
