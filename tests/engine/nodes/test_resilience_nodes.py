"""retry, timeout and try_catch act on real upstream work: re-execution, bounded attempts,
caught failures."""

from __future__ import annotations

import threading
import time

import pytest

from engine import Limits, Workflow, execute
from engine.errors import NodeError
from engine.nodes.base import Field, Node, register
from tests.engine.payloads import edge, node


@register
class Flaky(Node):
    """Fails its first `failures` executions in a run, then returns how many it took."""

    type_name = "resiltest_flaky"
    fields = (Field("failures", "integer", default=2),)
    calls: dict[tuple[str, str], int] = {}  # noqa: RUF012 - test-only shared log
    lock = threading.Lock()

    def run(self, inputs, ctx):
        key = (ctx.run.execution_id, self.id)
        with Flaky.lock:
            Flaky.calls[key] = count = Flaky.calls.get(key, 0) + 1
        if count <= self.config["failures"]:
            raise NodeError(f"flaky failure {count}")
        return count


def outcome(result, node_id):
    return next(n for n in result.nodes if n.id == node_id)


def divide_by_zero():
    return [node("a", "number", value=1), node("b", "number", value=0),
            node("div", "operation", op="divide")], [edge("a", "div"), edge("b", "div")]


# -- retry ------------------------------------------------------------------------------

def test_retry_node_reexecutes_its_upstream_until_it_succeeds():
    result = execute({
        "nodes": [node("f", "resiltest_flaky", failures=2),
                  node("r", "retry", max_attempts=3, initial_delay="10ms")],
        "edges": [edge("f", "r")],
    })
    assert result.status == "succeeded"
    # Thaiyyal's envelope; the upstream node's record tells how many attempts it took
    assert result.final_output == {"value": 3, "attempts": 1, "success": True}
    assert outcome(result, "f").attempts == 3


def test_retry_node_gives_up_after_max_attempts_and_says_so():
    result = execute({
        "nodes": [node("f", "resiltest_flaky", failures=5),
                  node("r", "retry", max_attempts=2, initial_delay="10ms")],
        "edges": [edge("f", "r")],
    })
    assert result.status == "failed"
    assert result.errors == ["error executing node f: flaky failure 2 (after 2 attempts)"]
    assert outcome(result, "f").attempts == 2
    assert outcome(result, "r").status == "cancelled"  # never ran: the run stopped


def test_retry_node_retries_a_real_failure_of_a_pure_node():
    nodes, edges = divide_by_zero()
    result = execute({"nodes": [*nodes, node("r", "retry", max_attempts=3,
                                             backoff_strategy="constant",
                                             initial_delay="1ms")],
                      "edges": [*edges, edge("div", "r")]})
    assert result.errors == ["error executing node div: division by zero (after 3 attempts)"]
    assert outcome(result, "div").attempts == 3


def test_retry_node_only_retries_errors_it_is_told_to():
    result = execute({
        "nodes": [node("f", "resiltest_flaky", failures=1),
                  node("r", "retry", retry_on_errors=["timeout"], initial_delay="1ms")],
        "edges": [edge("f", "r")],
    })
    assert result.status == "failed"
    assert outcome(result, "f").attempts == 1


def test_retry_node_waits_its_backoff_between_attempts():
    start = time.monotonic()
    result = execute({
        "nodes": [node("f", "resiltest_flaky", failures=2),
                  node("r", "retry", backoff="linear", initial_delay="100ms")],
        "edges": [edge("f", "r")],
    })
    assert result.status == "succeeded"
    assert time.monotonic() - start >= 0.29  # 100 ms, then 200 ms


def test_retry_through_a_timeout_node_reaches_the_work_upstream():
    result = execute({
        "nodes": [node("f", "resiltest_flaky", failures=2),
                  node("t", "timeout", timeout="5s"),
                  node("r", "retry", initial_delay="1ms")],
        "edges": [edge("f", "t"), edge("t", "r")],
    })
    assert result.status == "succeeded"
    assert result.final_output["value"]["value"] == 3


def test_a_nodes_own_retry_wins_over_a_retry_node():
    wf = Workflow.load({
        "nodes": [node("f", "resiltest_flaky", failures=0, retry={"max_attempts": 7}),
                  node("r", "retry", max_attempts=2)],
        "edges": [edge("f", "r")],
    })
    assert wf.policies[0].retry.max_attempts == 7


def test_retry_node_fails_on_an_error_result_it_cannot_retry(run_node):
    with pytest.raises(NodeError, match="upstream returned an error result: input is not"):
        run_node("retry", {}, {"error": "input is not an array"})


def test_retry_node_refuses_bad_settings(load_problems):
    problems = load_problems("retry", {"max_attempts": 0, "backoff_strategy": "random",
                                       "multiplier": 0.5, "retry_on_errors": [3]})
    paths = [p["path"] for p in problems]
    assert paths == ["$.nodes[0].data.backoff_strategy"]
    problems = load_problems("retry", {"max_attempts": 0, "multiplier": 0.5,
                                       "retry_on_errors": [3]})
    assert [p["path"].rsplit(".", 1)[1] for p in problems] == [
        "max_attempts", "multiplier", "retry_on_errors"]


# -- timeout ----------------------------------------------------------------------------

def test_timeout_node_bounds_its_upstream_and_fails_clearly():
    start = time.monotonic()
    result = execute({
        "nodes": [node("d", "delay", duration="5s"), node("t", "timeout", timeout="200ms")],
        "edges": [edge("d", "t")],
    })
    assert time.monotonic() - start < 2
    assert result.status == "failed"
    assert result.error == {"code": "timeout", "node_id": "d",
                            "message": "node timed out after 0.2s"}


def test_the_tightest_timeout_wins():
    wf = Workflow.load({
        "nodes": [node("d", "delay", duration="5s", timeout="1s"),
                  node("t1", "timeout", timeout="300ms"), node("t2", "timeout", timeout="2s")],
        "edges": [edge("d", "t1"), edge("d", "t2")],
    })
    assert wf.policies[0].timeout == pytest.approx(0.3)


def test_timeout_node_passes_a_fast_value_on(run_node):
    assert run_node("timeout", {"timeout": 2}, 5) == {
        "value": 5, "timeout_duration": "2s", "execution_time": "0s", "timed_out": False}


def test_timeout_continue_with_partial_lets_the_run_go_on():
    result = execute({
        "nodes": [node("d", "delay", duration="5s"),
                  node("t", "timeout", timeout="100ms", timeout_action="continue_with_partial")],
        "edges": [edge("d", "t")],
    })
    assert result.status == "succeeded"
    assert result.final_output == {
        "value": None, "timeout_duration": "100ms", "execution_time": "0s", "timed_out": True,
        "timeout_exceeded": True, "partial_result": True}
    assert outcome(result, "d").status == "failed"


def test_timeout_continue_does_not_swallow_other_failures():
    nodes, edges = divide_by_zero()
    result = execute({"nodes": [*nodes, node("t", "timeout",
                                             timeout_action="continue_with_partial")],
                      "edges": [*edges, edge("div", "t")]})
    assert result.status == "failed"
    assert result.error == {"code": "node_error", "node_id": "t",
                            "message": "node 'div' failed: division by zero"}


def test_timeout_node_refuses_a_zero_timeout(load_problems):
    assert load_problems("timeout", {"timeout": 0}) == [
        {"path": "$.nodes[0].data.timeout", "message": "must be greater than zero"}]


# -- try_catch --------------------------------------------------------------------------

def test_try_catch_turns_a_real_upstream_failure_into_the_fallback():
    nodes, edges = divide_by_zero()
    result = execute({"nodes": [*nodes, node("tc", "try_catch", fallback_value=0)],
                      "edges": [*edges, edge("div", "tc")]})
    assert result.status == "succeeded"
    assert result.final_output == {
        "value": 0, "error_caught": True,
        "error_message": "error executing node div: division by zero"}
    assert outcome(result, "div").status == "failed"


def test_try_catch_passes_success_through():
    result = execute({"nodes": [node("n", "number", value=4), node("tc", "try_catch")],
                      "edges": [edge("n", "tc")]})
    assert result.final_output == {"value": 4, "error_caught": False}


def test_try_catch_routes_to_the_error_or_success_path():
    nodes, edges = divide_by_zero()
    result = execute({
        "nodes": [*nodes, node("tc", "try_catch", error_output_path="recover"),
                  node("on_error", "visualization", mode="text"),
                  node("on_success", "visualization", mode="text")],
        "edges": [*edges, edge("div", "tc"), edge("tc", "on_error", "recover"),
                  edge("tc", "on_success", "success")],
    })
    status = {n.id: n.status for n in result.nodes}
    assert status["on_error"] == "succeeded"
    assert status["on_success"] == "skipped"
    assert result.node_results["tc"]["error_output_path"] == "recover"


def test_try_catch_can_still_stop_the_run():
    nodes, edges = divide_by_zero()
    result = execute({"nodes": [*nodes, node("tc", "try_catch", continue_on_error=False)],
                      "edges": [*edges, edge("div", "tc")]})
    assert result.status == "failed"
    assert result.errors == ["error executing node tc: error caught: division by zero"]


def test_try_catch_catches_a_thaiyyal_error_result(run_node):
    assert run_node("try_catch", {"fallback_value": []}, {"error": "input is not an array"}) == {
        "value": [], "error_caught": True, "error_message": "input is not an array"}


def test_try_catch_never_swallows_a_limit():
    result = execute({
        "nodes": [node("t", "text_input", text="x" * 50), node("tc", "try_catch")],
        "edges": [edge("t", "tc")],
    }, limits=Limits(max_string_length=10))
    assert result.status == "failed"
    assert result.error["code"] == "limit_exceeded"
    assert "max_string_length" in result.error["message"]
