"""Real parallelism: independent I/O branches overlap on the per-run pool, `parallel
{max_concurrency}` caps a fan-out, and `join` waits (all) or moves on (any/first).

Timing asserts measure overlap and ordering with generous bounds, never tight wall clocks.
"""

from __future__ import annotations

import threading
import time

import pytest

from engine import Limits, execute
from engine.nodes.base import Field, Node, register
from tests.engine.payloads import edge, node


@register
class Probe(Node):
    """Waits on the pool while counting how many probes of the same run are waiting with it."""

    type_name = "partest_probe"
    io_bound = True
    fields = (Field("seconds", "duration", default=0.1),)
    active: dict[str, int] = {}  # noqa: RUF012 - test-only shared log, per run
    peak: dict[str, int] = {}  # noqa: RUF012
    lock = threading.Lock()

    def run(self, inputs, ctx):
        key = ctx.run.execution_id
        with Probe.lock:
            Probe.active[key] = Probe.active.get(key, 0) + 1
            Probe.peak[key] = max(Probe.peak.get(key, 0), Probe.active[key])
        try:
            ctx.sleep(self.config["seconds"])
        finally:
            with Probe.lock:
                Probe.active[key] -= 1
        return self.id


def fan_out(root, branches, sink=None):
    """Edges from `root` to each branch, and from each branch to `sink`."""
    edges = [edge(root, b) for b in branches] if root else []
    return edges + ([edge(b, sink) for b in branches] if sink else [])


def spans(result, ids):
    """(start, end) seconds from the run start, per node id."""
    by_id = {n.id: n for n in result.nodes}
    return {i: (by_id[i].started_ms / 1000, (by_id[i].started_ms + by_id[i].duration_ms) / 1000)
            for i in ids}


def run_threads(result):
    prefix = f"thaiyyal-{result.execution_id[:8]}"
    return [t for t in threading.enumerate() if t.name.startswith(prefix)]


def wait_for_no_threads(result, within=2.0):
    end = time.monotonic() + within
    while run_threads(result) and time.monotonic() < end:
        time.sleep(0.01)
    return run_threads(result)


def test_four_delay_branches_overlap():
    branches = [f"d{i}" for i in range(4)]
    start = time.monotonic()
    result = execute({
        "nodes": [node(b, "delay", duration="200ms") for b in branches] + [node("j", "join")],
        "edges": fan_out(None, branches, "j"),
    })
    elapsed = time.monotonic() - start
    assert result.status == "succeeded"
    assert result.final_output["count"] == 4
    s = spans(result, branches)
    # every branch started before any finished: they ran at the same time
    assert max(a for a, _ in s.values()) < min(b for _, b in s.values())
    assert elapsed < 0.7  # sequential would be 0.8 s


def test_join_all_lists_values_in_edge_order_whatever_finishes_first():
    result = execute({
        "nodes": [node("slow", "delay", duration="150ms"), node("fast", "delay", duration="1ms"),
                  node("j", "join")],
        "edges": [edge("slow", "j"), edge("fast", "j")],
    })
    assert [v["duration"] for v in result.final_output["values"]] == ["150ms", "1ms"]


def test_join_all_waits_for_the_slowest_branch():
    result = execute({
        "nodes": [node("slow", "delay", duration="200ms"), node("fast", "delay", duration="1ms"),
                  node("j", "join", join_strategy="all")],
        "edges": [edge("slow", "j"), edge("fast", "j")],
    })
    s = spans(result, ["slow"])
    join = next(n for n in result.nodes if n.id == "j")
    assert join.started_ms / 1000 >= s["slow"][1] - 0.001


def test_max_concurrency_caps_the_fan_out_below_a_parallel_node():
    branches = [f"p{i}" for i in range(6)]
    start = time.monotonic()
    result = execute({
        "nodes": [node("par", "parallel", max_concurrency=2)]
        + [node(b, "partest_probe", seconds="80ms") for b in branches] + [node("j", "join")],
        "edges": fan_out("par", branches, "j"),
    })
    assert result.status == "succeeded"
    assert result.final_output["values"] == branches
    assert Probe.peak[result.execution_id] == 2
    assert time.monotonic() - start >= 0.23  # three rounds of two


def test_max_concurrency_also_bounds_nodes_further_down_each_branch():
    heads, tails = ["a1", "a2", "a3"], ["b1", "b2", "b3"]
    result = execute({
        "nodes": [node("par", "parallel", max_concurrency=1)]
        + [node(n, "partest_probe", seconds="30ms") for n in heads + tails],
        "edges": fan_out("par", heads) + [edge(h, t) for h, t in zip(heads, tails, strict=True)],
    })
    assert result.status == "succeeded"
    assert Probe.peak[result.execution_id] == 1


def test_without_a_cap_branches_are_bounded_by_the_pool_size():
    branches = [f"p{i}" for i in range(6)]
    result = execute({
        "nodes": [node(b, "partest_probe", seconds="80ms") for b in branches],
        "edges": [],
    }, limits=Limits(max_parallel_branches=3))
    assert result.status == "succeeded"
    assert Probe.peak[result.execution_id] == 3


@pytest.mark.parametrize("strategy", ["any", "first"])
def test_join_any_and_first_do_not_wait_for_a_slow_branch(strategy):
    start = time.monotonic()
    result = execute({
        "nodes": [node("fast", "delay", duration="50ms"), node("slow", "delay", duration="5s"),
                  node("j", "join", join_strategy=strategy),
                  node("out", "visualization", mode="text")],
        "edges": [edge("fast", "j"), edge("slow", "j"), edge("j", "out")],
    })
    assert time.monotonic() - start < 2
    assert result.status == "succeeded"
    assert result.final_output["strategy"] == strategy
    assert result.final_output["value"]["duration"] == "50ms"
    status = {n.id: n.status for n in result.nodes}
    assert status == {"fast": "succeeded", "slow": "cancelled", "j": "succeeded",
                      "out": "succeeded"}
    # the abandoned branch was woken, not left sleeping on the run's behalf
    assert wait_for_no_threads(result) == []


def test_join_any_still_waits_when_the_fast_branch_is_gated_off():
    result = execute({
        "nodes": [node("n", "number", value=1), node("s", "split", paths=["x"]),
                  node("slow", "delay", duration="100ms"),
                  node("j", "join", join_strategy="any")],
        "edges": [edge("n", "s"), {"source": "s", "target": "j", "sourceHandle": "y"},
                  edge("slow", "j")],
    })
    assert result.status == "succeeded"
    assert result.final_output["value"]["duration"] == "100ms"
