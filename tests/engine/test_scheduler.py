"""The scheduler's contract, pinned with small test-only node types whose effects we can see."""

from __future__ import annotations

import threading
import time

import pytest

from engine import Limits, RecordingObserver, Workflow, execute
from engine.errors import NodeError
from engine.nodes.base import Field, Node, register
from tests.engine.payloads import edge, node


@register
class Const(Node):
    type_name = "test_const"
    fields = (Field("value", "any", required=True),)

    def run(self, inputs, ctx):
        return self.config["value"]


@register
class Collect(Node):
    """Returns the list of its inputs: shows input order and gating."""

    type_name = "test_collect"

    def run(self, inputs, ctx):
        return list(inputs)


@register
class Gate(Node):
    type_name = "test_gate"
    fields = (Field("open", "string", required=True),)

    def run(self, inputs, ctx):
        return {"path": self.config["open"], "value": inputs[0] if inputs else None}


@register
class Fail(Node):
    type_name = "test_fail"

    def run(self, inputs, ctx):
        raise NodeError("it broke")


@register
class Wait(Node):
    """Sleeps on the pool and records when it ran, to observe overlap."""

    type_name = "test_wait"
    io_bound = True
    fields = (Field("seconds", "duration", default=0.2),)
    spans: list[tuple[str, float, float]] = []  # noqa: RUF012 - test-only shared log

    def run(self, inputs, ctx):
        start = time.monotonic()
        ctx.sleep(self.config["seconds"])
        Wait.spans.append((self.id, start, time.monotonic()))
        return self.id


@register
class Hang(Node):
    """Blocks until the run is cancelled, like a socket read that only a close interrupts."""

    type_name = "test_hang"
    io_bound = True
    returned: list[str] = []  # noqa: RUF012 - test-only shared log

    def run(self, inputs, ctx):
        woken = threading.Event()
        ctx.run.on_cancel(woken.set)
        woken.wait(60)
        Hang.returned.append(ctx.run.execution_id)
        return "woken"


@register
class Flaky(Node):
    """Fails until its third attempt in a run: shows that retry re-executes."""

    type_name = "test_flaky"
    calls: dict[str, int] = {}  # noqa: RUF012

    def run(self, inputs, ctx):
        key = ctx.run.execution_id
        Flaky.calls[key] = Flaky.calls.get(key, 0) + 1
        if Flaky.calls[key] < 3:
            raise NodeError(f"attempt {Flaky.calls[key]} failed")
        return Flaky.calls[key]


@register
class Catcher(Node):
    type_name = "test_catcher"
    catches_errors = True

    def run(self, inputs, ctx):
        return [getattr(i, "message", i) for i in inputs]


@register
class FirstOf(Node):
    type_name = "test_first_of"
    wants_first_input = True

    def run(self, inputs, ctx):
        return inputs[0]


def test_inputs_arrive_in_edge_order_not_node_order():
    result = execute({
        "nodes": [node("b", "test_const", value="B"), node("a", "test_const", value="A"),
                  node("c", "test_collect")],
        "edges": [edge("b", "c"), edge("a", "c")],
    })
    assert result.status == "succeeded"
    assert result.final_output == ["B", "A"]


def test_runs_in_thaiyyal_kahn_order_sources_sorted_by_id():
    observer = RecordingObserver()
    execute({
        "nodes": [node("z", "test_const", value=1), node("m", "test_collect"),
                  node("a", "test_const", value=2)],
        "edges": [edge("z", "m"), edge("a", "m")],
    }, observer=observer)
    started = [e[1] for e in observer.events if e[0] == "node_started"]
    assert started == ["a", "z", "m"]


def test_conditional_edge_fires_only_on_selected_path_and_skips_propagate():
    result = execute({
        "nodes": [node("g", "test_gate", open="true"), node("yes", "test_collect"),
                  node("no", "test_collect"), node("after_no", "test_collect")],
        "edges": [edge("g", "yes", "true"), edge("g", "no", "false"),
                  edge("no", "after_no")],
    })
    status = {n.id: n.status for n in result.nodes}
    assert status == {"g": "succeeded", "yes": "succeeded", "no": "skipped",
                      "after_no": "skipped"}
    assert "no" not in result.node_results
    assert "after_no" not in result.node_results


def test_node_with_one_firing_source_of_two_runs_with_that_input_only():
    result = execute({
        "nodes": [node("g", "test_gate", open="false"), node("k", "test_const", value=7),
                  node("m", "test_collect")],
        "edges": [edge("g", "m", "true"), edge("k", "m")],
    })
    assert result.node_results["m"] == [7]


def test_final_output_is_last_terminal_in_plan_order_deterministically():
    payload = {
        "nodes": [node("a", "test_const", value="from a"), node("b", "test_const", value="from b"),
                  node("c", "test_collect")],
        "edges": [edge("a", "c")],
    }
    # terminals: b (plan position 1) and c (position 2): c ran last in plan order
    assert [execute(payload).final_output for _ in range(20)] == [["from a"]] * 20


def test_failed_run_keeps_results_of_nodes_that_ran_and_names_the_node():
    result = execute({
        "nodes": [node("a", "test_const", value=1), node("b", "test_fail"),
                  node("c", "test_collect")],
        "edges": [edge("a", "b"), edge("b", "c")],
    })
    assert result.status == "failed"
    assert result.node_results == {"a": 1}
    assert result.errors == ["error executing node b: it broke"]
    assert result.error == {"code": "node_error", "node_id": "b", "message": "it broke"}
    assert result.final_output is None


def test_max_node_executions_names_the_limit():
    nodes = [node(f"n{i}", "test_const", value=i) for i in range(5)]
    result = execute({"nodes": nodes}, limits=Limits(max_node_executions=3))
    assert result.status == "failed"
    assert result.error["code"] == "limit_exceeded"
    assert "max_node_executions=3" in result.error["message"]
    assert len(result.node_results) == 3


def test_result_string_longer_than_limit_fails_the_node():
    result = execute({"nodes": [node("big", "test_const", value="x" * 50)]},
                     limits=Limits(max_string_length=10))
    assert result.status == "failed"
    assert "max_string_length=10" in result.errors[0]


def test_result_array_longer_than_limit_fails_the_node():
    result = execute({"nodes": [node("big", "test_const", value={"items": list(range(20))})]},
                     limits=Limits(max_array_length=10))
    assert result.status == "failed"
    assert "max_array_length=10" in result.errors[0]


def test_independent_io_branches_overlap():
    Wait.spans.clear()
    nodes = [node(f"w{i}", "test_wait", seconds="200ms") for i in range(4)]
    result = execute({"nodes": nodes})
    assert result.status == "succeeded"
    starts = [s for _, s, _ in Wait.spans]
    ends = [e for _, _, e in Wait.spans]
    # every branch started before any finished: they ran at the same time
    assert max(starts) < min(ends)


def test_deadline_ends_run_while_node_hangs_and_lists_it():
    started = time.monotonic()
    result = execute({"nodes": [node("hang", "test_hang")]},
                     limits=Limits(max_execution_time=0.3))
    elapsed = time.monotonic() - started
    assert result.status == "failed"
    assert "max_execution_time=0.3s" in result.error["message"]
    assert result.still_running == ["hang"]
    assert elapsed < 5
    assert {n.id: n.status for n in result.nodes} == {"hang": "running"}


def test_deadline_leaves_no_thread_working_for_the_run():
    result = execute({"nodes": [node(f"h{i}", "test_hang") for i in range(3)]},
                     limits=Limits(max_execution_time=0.2))
    for _ in range(100):
        if Hang.returned.count(result.execution_id) == 3:
            break
        time.sleep(0.02)
    assert Hang.returned.count(result.execution_id) == 3


def test_retry_policy_reexecutes_until_success():
    result = execute({"nodes": [
        {"id": "f", "type": "test_flaky",
         "data": {"retry": {"max_attempts": 3, "backoff": "constant", "initial_delay": "10ms"}}},
    ]})
    assert result.status == "succeeded"
    assert result.final_output == 3
    assert result.nodes[0].attempts == 3


def test_retry_gives_up_after_max_attempts_and_says_so():
    result = execute({"nodes": [
        {"id": "f", "type": "test_fail",
         "data": {"retry": {"max_attempts": 2, "initial_delay": "1ms"}}},
    ]})
    assert result.status == "failed"
    assert result.errors == ["error executing node f: it broke (after 2 attempts)"]
    assert result.nodes[0].attempts == 2


def test_timeout_policy_bounds_a_node():
    started = time.monotonic()
    result = execute({"nodes": [
        {"id": "w", "type": "test_wait", "data": {"seconds": 10, "timeout": "150ms"}},
    ]})
    assert result.status == "failed"
    assert result.error["code"] == "timeout"
    assert "timed out after 0.15s" in result.error["message"]
    assert time.monotonic() - started < 5


def test_catching_node_receives_upstream_failure_and_run_succeeds():
    result = execute({
        "nodes": [node("bad", "test_fail"), node("catch", "test_catcher")],
        "edges": [edge("bad", "catch")],
    })
    assert result.status == "succeeded"
    assert result.final_output == ["it broke"]
    assert {n.id: n.status for n in result.nodes}["bad"] == "failed"


def test_first_input_node_does_not_wait_for_slow_branch():
    started = time.monotonic()
    result = execute({
        "nodes": [node("slow", "test_wait", seconds=20), node("fast", "test_wait", seconds=0.05),
                  node("first", "test_first_of")],
        "edges": [edge("slow", "first"), edge("fast", "first")],
    })
    assert time.monotonic() - started < 5
    assert result.status == "succeeded"
    assert result.final_output == "fast"
    assert {n.id: n.status for n in result.nodes}["slow"] == "cancelled"


def test_observer_sees_run_and_node_events():
    observer = RecordingObserver()
    result = execute({"nodes": [node("a", "test_const", value=1), node("b", "test_fail")],
                      "edges": [edge("a", "b")]}, observer=observer)
    kinds = [e[0] for e in observer.events]
    assert kinds == ["run_started", "node_started", "node_finished", "node_started",
                     "node_finished", "run_finished"]
    assert observer.events[-1] == ("run_finished", result.execution_id, "failed", "node_error")
    assert observer.events[4][3] == "failed"


def test_a_broken_observer_never_fails_a_run():
    class Broken(RecordingObserver):
        def node_started(self, *args):
            raise RuntimeError("metrics backend down")

    assert execute({"nodes": [node("a", "test_const", value=1)]},
                   observer=Broken()).status == "succeeded"


def test_loaded_workflow_is_reusable_and_thread_safe():
    wf = Workflow.load({"nodes": [node("a", "test_const", value=1), node("c", "test_collect")],
                        "edges": [edge("a", "c")]})
    outputs: list = []

    def work():
        for _ in range(200):
            outputs.append(wf.execute().final_output)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outputs == [[1]] * 800


def test_execution_ids_are_16_hex_and_unique():
    ids = {execute({"nodes": [node("a", "test_const", value=1)]}).execution_id
           for _ in range(50)}
    assert len(ids) == 50
    assert all(len(i) == 16 and int(i, 16) >= 0 for i in ids)


@pytest.mark.parametrize("requested", [{"max_execution_time": "1h"}, {"max_http_calls": 10**6}])
def test_requests_can_lower_but_never_raise_limits(requested):
    base = Limits()
    lowered = base.lowered(**requested)
    assert lowered == base
    assert base.lowered(max_http_calls=3).max_http_calls == 3
