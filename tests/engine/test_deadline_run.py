"""The run ends at max_execution_time whatever its nodes do: the result names the nodes still
running, and waits of a finished run are woken rather than left working on its behalf."""

from __future__ import annotations

import threading
import time

from engine import Limits, execute
from engine.errors import NodeError
from engine.nodes.base import Node, register
from tests.engine.payloads import edge, node


@register
class Hang(Node):
    """Blocks like a socket read that only closing interrupts: ignores the deadline, wakes
    only on cancel. Records whether it was woken."""

    type_name = "deadtest_hang"
    io_bound = True
    woken: dict[str, threading.Event] = {}  # noqa: RUF012 - test-only shared log

    def run(self, inputs, ctx):
        event = Hang.woken.setdefault(ctx.run.execution_id, threading.Event())
        ctx.run.on_cancel(event.set)
        event.wait(30)
        return "woken"


@register
class Stubborn(Node):
    """Ignores the deadline and cancellation altogether (a C call that will not return)."""

    type_name = "deadtest_stubborn"
    io_bound = True

    def run(self, inputs, ctx):
        time.sleep(0.8)
        return "late"


@register
class AlwaysFails(Node):
    type_name = "deadtest_fails"
    io_bound = True

    def run(self, inputs, ctx):
        raise NodeError("broken on purpose")


def timed(payload, seconds):
    start = time.monotonic()
    result = execute(payload, limits=Limits(max_execution_time=seconds))
    return result, time.monotonic() - start


def run_threads(result):
    prefix = f"thaiyyal-{result.execution_id[:8]}"
    return [t for t in threading.enumerate() if t.name.startswith(prefix)]


def no_threads_left(result, within=2.0):
    end = time.monotonic() + within
    while run_threads(result) and time.monotonic() < end:
        time.sleep(0.01)
    return not run_threads(result)


def test_a_hanging_node_cannot_hold_the_run_past_its_deadline():
    result, elapsed = timed({"nodes": [node("h", "deadtest_hang"),
                                       node("n", "number", value=1)], "edges": []}, 0.3)
    assert 0.25 <= elapsed < 2
    assert result.status == "failed"
    assert result.error["code"] == "limit_exceeded"
    assert "max_execution_time=0.3s" in result.error["message"]
    assert "still running: h" in result.error["message"]
    assert result.still_running == ["h"]
    assert {n.id: n.status for n in result.nodes} == {"h": "running", "n": "succeeded"}
    assert result.node_results == {"n": 1}
    # cancelling the run woke the blocked call, so its thread is free again
    assert Hang.woken[result.execution_id].wait(2)
    assert no_threads_left(result)


def test_a_node_ignoring_cancellation_still_cannot_delay_the_result():
    result, elapsed = timed({"nodes": [node("s", "deadtest_stubborn")], "edges": []}, 0.2)
    assert elapsed < 0.7
    assert result.still_running == ["s"]


def test_a_long_delay_is_cut_at_the_deadline_and_its_wait_ends():
    result, elapsed = timed({"nodes": [node("d", "delay", duration="10s")], "edges": []}, 0.3)
    assert elapsed < 2
    assert result.status == "failed"
    assert "max_execution_time" in result.error["message"]
    assert no_threads_left(result)


def test_a_node_timeout_never_outlasts_the_run():
    result, elapsed = timed({"nodes": [node("d", "delay", duration="10s", timeout="10s")],
                             "edges": []}, 0.3)
    assert elapsed < 2
    assert result.error["code"] == "limit_exceeded"


def test_retry_backoff_stops_at_the_deadline():
    result, elapsed = timed({
        "nodes": [node("f", "deadtest_fails"),
                  node("r", "retry", max_attempts=5, initial_delay="10s")],
        "edges": [edge("f", "r")],
    }, 0.4)
    assert elapsed < 2
    assert result.status == "failed"
    assert result.error["code"] == "limit_exceeded"


def test_a_failing_branch_cancels_the_others_and_wakes_them():
    result, elapsed = timed({
        "nodes": [node("bad", "deadtest_fails"), node("slow", "delay", duration="10s"),
                  node("j", "join")],
        "edges": [edge("bad", "j"), edge("slow", "j")],
    }, 30)
    assert elapsed < 2
    assert result.errors == ["error executing node bad: broken on purpose"]
    assert {n.id: n.status for n in result.nodes}["slow"] == "cancelled"
    assert no_threads_left(result)
